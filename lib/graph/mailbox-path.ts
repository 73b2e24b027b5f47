// Which mailbox a Graph call reads or sends from, and its path. The person who consented reaches
// their own mailbox at `/me`; a shared mailbox (`contact@`, `devis@`) they were granted is reached
// at `/users/{address}` with the same delegated token, under Mail.Read.Shared / Mail.Send.Shared
// ("Get Outlook messages in a shared or delegated folder").

/** A mailbox as Graph calls see it. `address` also keys the per-mailbox request limit. */
export interface GraphMailbox {
  /** The mailbox's SMTP address (the consenting person's own, or the shared mailbox's). */
  address: string;
  /** True for a mailbox other than the consenting person's own (a shared or delegated one). */
  isShared: boolean;
}

/** The well-known folders the sync reads (Graph's `mailFolder` well-known names). */
export type GraphFolder = "inbox" | "sentitems";

/** `/me` for the person's own mailbox, `/users/{address}` for another one. */
export function mailboxPath(mailbox: GraphMailbox): string {
  return mailbox.isShared ? `/users/${encodeURIComponent(mailbox.address)}` : "/me";
}

/**
 * The subscription resource for `folder`'s messages, relative to the Graph root as the subscription
 * resource wants it ("subscription resource type": do not include the base URL).
 */
export function folderMessagesResource(mailbox: GraphMailbox, folder: GraphFolder): string {
  return `${mailboxPath(mailbox).slice(1)}/mailFolders('${folder}')/messages`;
}

/** The key the per-mailbox limit counts under: one mailbox, however it is addressed. */
export function mailboxKey(mailbox: GraphMailbox): string {
  return mailbox.address.trim().toLowerCase();
}
