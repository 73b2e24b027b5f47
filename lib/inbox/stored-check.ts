// The cheap check before any parsing or file writing: is a message already stored? A unique key is
// already taken (its dedupe key, in this integration or anywhere in the same company mailbox: a
// disabled twin, a mailbox removed with its mail kept and added again; or the folder's UID), or the
// message is a follow-up the company's product sent (its Message-ID is in the follow-up history).
// The follow-up's own row carries this integration's dedupe key when the mailbox sent it; when the
// global server sent it (`integration_id` null), only the history recognises it. The insert's ON
// CONFLICT stays the guarantee: this check only saves the parse and the attachment writes of a
// message seen before.

import { and, eq, inArray, or, sql } from "drizzle-orm";
import { type Db, rowsOf } from "../db/client.js";
import { retryTransient } from "../db/retry-transient.js";
import { dbFailureOf } from "../db/transient-error.js";
import { followupHistory, inboxMessages } from "../db/schema.js";
import type { Logger } from "../log.js";
import { type MessageKey, messageKeyText } from "./mail-source.js";
import { mailboxAddressOf } from "./mailbox-address.js";

/** Where the messages checked come from: one folder of one integration, at one UIDVALIDITY (IMAP). */
export interface StoredCheckScope {
  integration: { id: number; companyId: number; emailAddress: string | null };
  folder: string;
  uidValidity: number;
}

export interface StoredCheckCandidate {
  key: MessageKey;
  dedupeKey: string;
}

/** Whether one message is already stored (see the module comment). */
export async function isStored(db: Db, scope: StoredCheckScope, candidate: StoredCheckCandidate, log: Logger): Promise<boolean> {
  return (await storedAmong(db, scope, [candidate], log)).size > 0;
}

/**
 * The keys (`messageKeyText`) of `candidates` already stored, in one query whatever their number:
 * the import checks a whole batch at once. A database that stays busy or unreachable is reported
 * as a JobError.
 */
export async function storedAmong(db: Db, scope: StoredCheckScope, candidates: StoredCheckCandidate[], log: Logger): Promise<Set<string>> {
  if (candidates.length === 0) return new Set();
  const keys = [...new Set(candidates.map((c) => c.dedupeKey))];
  const uids = candidates.flatMap((c) => (c.key.uid === undefined ? [] : [c.key.uid]));
  const sourceIds = candidates.flatMap((c) => (c.key.sourceMessageId === undefined ? [] : [c.key.sourceMessageId]));
  const m = inboxMessages;
  const address = mailboxAddressOf(scope.integration);
  const lookUp = async () => {
    // One round trip: the messages stored under these keys or UIDs, then the follow-ups sent with them.
    const rows = rowsOf<{
      kind: "stored" | "sent"; dedupe_key: string | null; integration_id: number | null; folder: string | null;
      uidvalidity: number | null; uid: number | null; source_message_id: string | null;
    }>(
      await db.execute(sql`
        select 'stored' as kind, ${m.dedupeKey} as dedupe_key, ${m.integrationId} as integration_id, ${m.folder} as folder,
               ${m.uidValidity} as uidvalidity, ${m.uid} as uid, ${m.sourceMessageId} as source_message_id
        from ${m}
        where ${or(
          // One arm per unique key, each whole, so that each is one index scan.
          and(eq(m.integrationId, scope.integration.id), inArray(m.dedupeKey, keys)),
          address === null ? undefined : and(eq(m.companyId, scope.integration.companyId), eq(m.mailboxAddress, address), inArray(m.dedupeKey, keys)),
          uids.length === 0 ? undefined : and(eq(m.integrationId, scope.integration.id), eq(m.folder, scope.folder), eq(m.uidValidity, scope.uidValidity), inArray(m.uid, uids)),
          sourceIds.length === 0 ? undefined : and(eq(m.integrationId, scope.integration.id), eq(m.folder, scope.folder), inArray(m.sourceMessageId, sourceIds)),
        )}
        union all
        select 'sent', ${followupHistory.messageId}, null, null, null, null, null
        from ${followupHistory}
        where ${and(eq(followupHistory.companyId, scope.integration.companyId), inArray(followupHistory.messageId, [...keys.map((k) => `<${k}>`), ...keys]))}`),
    );
    const stored = rows.filter((r) => r.kind === "stored");
    const sent = rows.filter((r) => r.kind === "sent");
    const takenKeys = new Set<string>([...sent.map((r) => (r.dedupe_key ?? "").replace(/^<|>$/g, "")), ...stored.map((r) => r.dedupe_key ?? "")]);
    // UIDs and ids are this integration's own: another integration of the mailbox may be on another server.
    const own = stored.filter((r) => Number(r.integration_id) === scope.integration.id && r.folder === scope.folder);
    const takenMessageKeys = new Set([
      ...own.filter((r) => r.uid !== null && Number(r.uidvalidity) === scope.uidValidity).map((r) => messageKeyText({ uid: Number(r.uid) })),
      ...own.flatMap((r) => (r.source_message_id === null ? [] : [messageKeyText({ sourceMessageId: r.source_message_id })])),
    ]);
    return new Set(
      candidates.map((c) => ({ text: messageKeyText(c.key), dedupeKey: c.dedupeKey }))
        .filter((c) => takenKeys.has(c.dedupeKey) || takenMessageKeys.has(c.text))
        .map((c) => c.text),
    );
  };
  return retryTransient(lookUp, { log }).catch((err: unknown) => {
    throw dbFailureOf(err, "looking the message up") ?? err;
  });
}
