// Who a mailbox is and who opened it. Shared mailboxes (Microsoft 365's `contact@`, `devis@`): a
// mailbox with no login of its own, opened by a member with their own OAuth2 token, the XOAUTH2 user being the shared address (Microsoft,
// "Authenticate an IMAP, POP or SMTP connection using OAuth": shared mailbox access). The mailbox to
// connect is chosen when the flow starts and carried by the server-side state, never by the redirect.

/** The longest address SMTP carries (RFC 5321 §4.5.3.1.3: a 256-octet path, brackets included). */
const MAX_ADDRESS_LENGTH = 254;

/** `text` as a mailbox address (trimmed, lower case), or undefined when it is not one. */
export function parseMailboxAddress(text: string | null | undefined): string | undefined {
  const address = text?.trim().toLowerCase() ?? "";
  return address.length <= MAX_ADDRESS_LENGTH && /^[^\s@"<>()[\],;:\\]+@[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(address) ? address : undefined;
}

/**
 * The account that consented, when it is not the mailbox itself (a shared mailbox); undefined for a
 * person's own mailbox, and for a mailbox connected before consenting accounts were recorded.
 */
export function delegateOf(mailbox: { emailAddress: string | null; oauthConsentingAccount: string | null }): string | undefined {
  const account = mailbox.oauthConsentingAccount?.trim().toLowerCase();
  return account && account !== mailbox.emailAddress?.trim().toLowerCase() ? account : undefined;
}
