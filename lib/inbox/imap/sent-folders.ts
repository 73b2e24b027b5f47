// Which folder(s) of a mailbox hold what the business wrote from its own mail program, chosen by
// evidence: the server's special-use attribute (RFC 6154 `\Sent`) when it gives one; else, among
// the folders named like a Sent folder, those holding the business's own recent mail.
//
// Without a flag a name is only a hint: Outlook's `Éléments envoyés` (no flag on many hosts) sits
// beside a phone's empty `Sent Messages`, and hosting panels (Courier, Cyrus) prefix every folder
// with `INBOX.`. Reading the wrong one loses every reply the business wrote, so when several names
// fit, one STATUS each (and a UID SEARCH FROM the mailbox's address in the non-empty ones) decides.
// A choice that has brought mail in is remembered through its cursor row, so this runs once.

import type { ImapFlow, ListResponse } from "imapflow";
import { specialUse } from "imapflow/lib/special-use.js";

/** How far back the business's own mail counts as evidence that a folder is its Sent folder. */
export const OWN_MAIL_LOOKBACK_DAYS = 90;
const DAY_MS = 86_400_000;

/** Names mail programs give the Sent folder, beyond those imapflow's name table knows (compared without case). */
const SENT_NAMES = ["sent", "sent items", "sent messages", "sent mail", "envoyés", "éléments envoyés", "messages envoyés"];
/** Parents a Sent folder may sit under: the root, a hosting panel's `INBOX.`, Gmail's system folder. */
const SENT_PARENTS = ["", "inbox", "[gmail]", "[google mail]"];
const UNSELECTABLE = new Set(["\\noselect", "\\nonexistent"]);

/** What decided the Sent folders of a mailbox. */
export type SentChoiceReason =
  | "special-use" // the server marks it \Sent
  | "only-candidate" // one folder is named like a Sent folder
  | "remembered" // chosen on an earlier sync, and it brought mail in
  | "own-mail" // holds the business's own recent mail
  | "most-mail" // none holds the business's mail: the fullest one
  | "all-empty" // several candidates, all empty: nothing to read yet
  | "none-found"; // no folder flagged or named like a Sent folder

/** One folder named like a Sent folder, with what was looked at. */
export interface SentCandidate {
  path: string;
  /** STATUS MESSAGES (only when several candidates had to be compared). */
  messages?: number;
  /** Messages from the mailbox's address in the last OWN_MAIL_LOOKBACK_DAYS days (only for non-empty ones). */
  ownRecentMessages?: number;
}

export interface SentChoice {
  folders: string[];
  reason: SentChoiceReason;
  candidates: SentCandidate[];
}

export interface SentEvidenceOptions {
  /** The mailbox's address: the From of the business's own mail (null: unknown, no SEARCH). */
  address: string | null;
  now: Date;
  /** Folders chosen on an earlier sync that brought mail in (their cursor moved); asked only when several names fit. */
  remembered?: () => Promise<ReadonlySet<string>>;
}

/**
 * The Sent folders among `listed`. Flagged folders decide alone, without a command; otherwise the
 * folders named like a Sent folder are compared (STATUS, then UID SEARCH FROM in those with mail)
 * unless there is only one, or an earlier choice is remembered.
 */
export async function chooseSentFolders(client: ImapFlow, listed: ListResponse[], options: SentEvidenceOptions): Promise<SentChoice> {
  const selectable = listed.filter((f) => !hasFlag(f, UNSELECTABLE));
  const flagged = selectable.filter((f) => hasFlag(f, new Set(["\\sent"])));
  if (flagged.length > 0) return { folders: flagged.map((f) => f.path), reason: "special-use", candidates: flagged.map((f) => ({ path: f.path })) };
  const candidates = selectable.filter(isNamedSent).map((f) => f.path);
  if (candidates.length === 0) return { folders: [], reason: "none-found", candidates: [] };
  if (candidates.length === 1) return { folders: candidates, reason: "only-candidate", candidates: [{ path: candidates[0]! }] };
  const known = options.remembered ? await options.remembered() : new Set<string>();
  const remembered = candidates.filter((path) => known.has(path));
  if (remembered.length > 0) return { folders: remembered, reason: "remembered", candidates: candidates.map((path) => ({ path })) };
  const examined = await gatherEvidence(client, candidates, options);
  const holdingOwnMail = examined.filter((c) => (c.ownRecentMessages ?? 0) > 0);
  if (holdingOwnMail.length > 0) return { folders: holdingOwnMail.map((c) => c.path), reason: "own-mail", candidates: examined };
  const fullest = examined.reduce<SentCandidate | undefined>((best, c) => ((c.messages ?? 0) > (best?.messages ?? 0) ? c : best), undefined);
  return fullest ? { folders: [fullest.path], reason: "most-mail", candidates: examined } : { folders: [], reason: "all-empty", candidates: examined };
}

/** Whether a listed folder's name says Sent, directly under the root, `INBOX` or Gmail's folder. */
export function isNamedSent(folder: Pick<ListResponse, "path" | "name" | "delimiter" | "flags">): boolean {
  const segments = folder.delimiter ? folder.path.split(folder.delimiter) : [folder.path];
  if (segments.length > 2) return false;
  const parent = segments.length === 2 ? fold(segments[0]!) : "";
  if (!SENT_PARENTS.includes(parent)) return false;
  const name = segments[segments.length - 1]!;
  // imapflow's table of localized names ("Gesendet", "Posta inviata", "Éléments envoyés"…).
  return SENT_NAMES.includes(fold(name)) || specialUse(false, { flags: folder.flags, name }).flag === "\\Sent";
}

/** One STATUS per candidate; in those holding mail, one EXAMINE and UID SEARCH FROM the mailbox's address. */
async function gatherEvidence(client: ImapFlow, paths: string[], options: SentEvidenceOptions): Promise<SentCandidate[]> {
  const since = new Date(options.now.getTime() - OWN_MAIL_LOOKBACK_DAYS * DAY_MS);
  const examined: SentCandidate[] = [];
  for (const path of paths) {
    const status = await client.status(path, { messages: true });
    const messages = status ? (status.messages ?? 0) : 0;
    if (messages === 0 || !options.address) {
      examined.push({ path, messages });
      continue;
    }
    const lock = await client.getMailboxLock(path, { readOnly: true, description: "sent folder evidence" });
    try {
      const found = await client.search({ from: options.address, since }, { uid: true });
      examined.push({ path, messages, ownRecentMessages: Array.isArray(found) ? found.length : 0 });
    } finally {
      lock.release();
    }
  }
  return examined;
}

function hasFlag(folder: Pick<ListResponse, "flags">, wanted: Set<string>): boolean {
  // Flags compare without case (RFC 9051 §9): `\NoSelect` and `\Noselect` are one flag.
  return [...folder.flags].some((flag) => wanted.has(flag.toLowerCase()));
}

/** Names compared without case or Unicode form ("Envoyés" may come composed or not). */
function fold(name: string): string {
  return name.normalize("NFC").toLowerCase();
}
