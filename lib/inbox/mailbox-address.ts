// Which company mailbox a message belongs to, beside the integration that found it: the company and
// the mailbox's address. An integration's id changes when the same mailbox is disabled and added
// again, or removed with its mail kept and connected again (OAuth2 finds mailboxes by address too);
// its address does not. The unique index `inbox_messages_mailbox_dedupe_key` holds a message once
// per company mailbox, and the migration that built it compared addresses the same way.

/** The address that names an integration's mailbox: trimmed, lower-cased; null when it has none. */
export function mailboxAddressOf(integration: { emailAddress: string | null }): string | null {
  // Local parts are case-sensitive in theory (RFC 5321 §2.4), never in practice for one mailbox.
  return integration.emailAddress?.trim().toLowerCase() || null;
}
