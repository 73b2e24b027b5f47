// Every state a mailbox can be in, as an operator needs it: what it is, whether a sync can take it
// now, when it is tried next, and the commands that get it out of that state. The operator's page
// (in French) and the CLI (in English) word these states each in their language; the state and
// its fix commands are decided here, once, so they cannot disagree.

import { eq } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { type AuthMethod, type FolderRole, INTEGRATION_TYPE_IMAP, inboxIntegrations, type OAuthProviderName, SYNC_STATUS } from "../db/schema.js";
import type { ErrorKind } from "../errors.js";
import { delegateOf } from "../mailbox-identity.js";

/** The columns the state is read from (never a password or a token). */
export const MAILBOX_STATE_COLUMNS = {
  id: inboxIntegrations.id,
  companyId: inboxIntegrations.companyId,
  integrationType: inboxIntegrations.integrationType,
  isActive: inboxIntegrations.isActive,
  authMethod: inboxIntegrations.authMethod,
  oauthProvider: inboxIntegrations.oauthProvider,
  oauthReconnectNeededAt: inboxIntegrations.oauthReconnectNeededAt,
  emailAddress: inboxIntegrations.emailAddress,
  oauthConsentingAccount: inboxIntegrations.oauthConsentingAccount,
  leaseUntil: inboxIntegrations.leaseUntil,
  lastSyncStatus: inboxIntegrations.lastSyncStatus,
  lastSyncError: inboxIntegrations.lastSyncError,
  lastSyncErrorKind: inboxIntegrations.lastSyncErrorKind,
  lastSuccessAt: inboxIntegrations.lastSuccessAt,
  consecutiveFailures: inboxIntegrations.consecutiveFailures,
  authFailures: inboxIntegrations.authFailures,
  failingSince: inboxIntegrations.failingSince,
  nextSyncAt: inboxIntegrations.nextSyncAt,
  syncedFolders: inboxIntegrations.syncedFolders,
};

export interface MailboxStateRow {
  id: number;
  companyId: number;
  integrationType: string;
  isActive: boolean;
  authMethod: AuthMethod;
  oauthProvider: OAuthProviderName | null;
  oauthReconnectNeededAt: Date | null;
  /** The mailbox synced and sent from. */
  emailAddress: string | null;
  /** Who consented to the OAuth2 access: another member's account for a shared mailbox. */
  oauthConsentingAccount: string | null;
  leaseUntil: Date | null;
  lastSyncStatus: string | null;
  lastSyncError: string | null;
  lastSyncErrorKind: ErrorKind | null;
  lastSuccessAt: Date | null;
  consecutiveFailures: number;
  authFailures: number;
  failingSince: Date | null;
  nextSyncAt: Date | null;
  syncedFolders: FolderRole[];
}

/**
 * The states, most pressing first (a disabled mailbox that also failed is first of all disabled):
 * - `not-imap`: a kind of integration this service does not sync;
 * - `disabled`: turned off; its mail stays;
 * - `reconnect-needed`: the OAuth2 provider refused the grant; never tried again until connected again;
 * - `syncing`: a run holds it right now;
 * - `login-refused`: the mail server refused the login (password, or an OAuth2 token); tried again after a long wait;
 * - `folder-stopped`: a folder's UIDVALIDITY kept changing; that folder waits for a reset;
 * - `failing`: the last syncs failed for another reason; tried again after a back-off;
 * - `never-synced`: added, not synced yet; the next run takes it;
 * - `ok`: the last sync succeeded.
 */
export type MailboxStateCode =
  | "not-imap" | "disabled" | "reconnect-needed" | "syncing" | "login-refused" | "folder-stopped" | "failing" | "never-synced" | "ok";

export interface MailboxState {
  code: MailboxStateCode;
  /** The kind of the last failure, when failing (null: recorded before kinds were). */
  kind: ErrorKind | null;
  /** When a run takes it next: null when none will until someone acts (disabled, reconnection). */
  nextTryAt: Date | null;
  /** The folder stopped by UIDVALIDITY changes (`folder-stopped`). */
  stoppedFolder: string | null;
  /** A forced sync (`sync --integration`, the page's button) can take it now. */
  isSyncableNow: boolean;
}

/** The state of `row` at `now`. */
export function mailboxStateOf(row: MailboxStateRow, now: Date): MailboxState {
  // `reset-folder` clears the error and the count but not the status: both say it failed.
  const isFailing = row.consecutiveFailures > 0 || (row.lastSyncStatus === SYNC_STATUS.error && row.lastSyncError !== null);
  const stoppedFolder = isFailing ? stoppedFolderOf(row.lastSyncError) : null;
  const base = { kind: isFailing ? (row.lastSyncErrorKind ?? (row.authFailures > 0 ? "auth" : null)) : null, stoppedFolder };
  // Not yet due means a run takes it at `next_sync_at`; never synced or due means at the next run.
  const nextTryAt = row.nextSyncAt && row.nextSyncAt.getTime() > now.getTime() ? row.nextSyncAt : now;
  if (row.integrationType !== INTEGRATION_TYPE_IMAP) return { ...base, code: "not-imap", nextTryAt: null, isSyncableNow: false };
  if (!row.isActive) return { ...base, code: "disabled", nextTryAt: null, isSyncableNow: false };
  if (row.oauthReconnectNeededAt) return { ...base, code: "reconnect-needed", kind: "auth", nextTryAt: null, isSyncableNow: false };
  if (row.leaseUntil && row.leaseUntil.getTime() > now.getTime()) return { ...base, code: "syncing", nextTryAt: null, isSyncableNow: false };
  const code: MailboxStateCode = !isFailing
    ? (row.lastSuccessAt ? "ok" : "never-synced")
    : row.authFailures > 0 ? "login-refused" : stoppedFolder ? "folder-stopped" : "failing";
  return { ...base, code, nextTryAt, isSyncableNow: true };
}

/** The row and state of integration `id`, or undefined when there is none. */
export async function readMailboxState(db: Db, id: number, now: Date): Promise<{ row: MailboxStateRow; state: MailboxState } | undefined> {
  const [row] = await db.select(MAILBOX_STATE_COLUMNS).from(inboxIntegrations).where(eq(inboxIntegrations.id, id));
  return row && { row, state: mailboxStateOf(row, now) };
}

/**
 * The `lokario-cron` commands that get the mailbox out of its state, in the order to run them
 * (empty when nothing is to be done but wait). Both the page and the CLI print them.
 */
export function fixCommandsFor(
  row: Pick<MailboxStateRow, "id" | "companyId" | "authMethod" | "oauthProvider" | "emailAddress" | "oauthConsentingAccount">,
  state: MailboxState,
): string[] {
  const id = row.id;
  // A shared mailbox is connected again by naming it: any member with access may consent.
  const sharedMailbox = delegateOf(row) && row.emailAddress ? ` --mailbox ${quoteArgument(row.emailAddress.trim().toLowerCase())}` : "";
  const reconnect = `lokario-cron integrations connect --provider ${row.oauthProvider ?? "google"} --company ${row.companyId}${sharedMailbox}`;
  switch (state.code) {
    case "disabled":
      return [`lokario-cron integrations enable ${id}`];
    case "reconnect-needed":
      return [reconnect];
    case "login-refused":
      return row.authMethod === "oauth2"
        ? [reconnect]
        : [`lokario-cron integrations update ${id} --password-stdin`, `lokario-cron integrations test ${id}`];
    case "folder-stopped":
      return [`lokario-cron inbox reset-folder ${id} --folder ${quoteArgument(state.stoppedFolder ?? "INBOX")}`];
    case "failing":
      // A setting that cannot work: the test says which, and names the `integrations update` option.
      return state.kind === "transient" ? [`lokario-cron sync --integration ${id}`] : [`lokario-cron integrations test ${id}`];
    case "never-synced":
      return [`lokario-cron sync --integration ${id}`];
    default:
      return [];
  }
}

/** sync-mailbox.ts words the stop as "UIDVALIDITY of <folder> changed on N syncs in a row: sync stopped…". */
function stoppedFolderOf(error: string | null): string | null {
  return error?.match(/^UIDVALIDITY of (.+) changed on \d+ syncs in a row/)?.[1] ?? null;
}

/** A folder name or an address as one shell word (`@` and `+` are not special to a POSIX shell). */
function quoteArgument(text: string): string {
  return /^[\w./@+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}
