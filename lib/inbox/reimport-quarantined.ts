// Lists the messages set aside by the sync (quarantine.ts) and imports one again from the raw bytes
// kept for it, e.g. after a parser fix. A re-imported message is backfill: it arrived long ago, so it
// is stored read and must not trigger automation. Success removes the quarantine row; failure keeps
// it with one more attempt and the new reason.

import { and, asc, eq, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { inboxIntegrations, inboxQuarantine } from "../db/schema.js";
import { JobError, shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import type { StoreOutcome } from "./incoming-message.js";
import type { StoredMessageKey } from "./mail-source.js";
import { storeMessage } from "./store-message.js";

export interface QuarantineEntry {
  id: number;
  integrationId: number;
  folder: string;
  /** Null for a message keyed by its source's id. */
  uidValidity: number | null;
  uid: number | null;
  sourceMessageId: string | null;
  reason: string;
  sizeBytes: number | null;
  isRawStored: boolean;
  attempts: number;
  updatedAt: Date;
}

/** The set-aside messages, of one integration or all, oldest first. */
export async function listQuarantine(db: Db, integrationId?: number): Promise<QuarantineEntry[]> {
  const q = inboxQuarantine;
  const rows = await db
    .select({
      id: q.id, integrationId: q.integrationId, folder: q.folder, uidValidity: q.uidValidity, uid: q.uid, sourceMessageId: q.sourceMessageId,
      reason: q.reason, sizeBytes: q.sizeBytes, rawPath: q.rawPath, attempts: q.attempts, updatedAt: q.updatedAt,
    })
    .from(q)
    .where(integrationId === undefined ? undefined : eq(q.integrationId, integrationId))
    .orderBy(asc(q.id));
  return rows.map(({ rawPath, ...row }) => ({ ...row, isRawStored: rawPath !== null }));
}

export type ReimportOutcome =
  | { status: "imported"; store: StoreOutcome }
  | { status: "failed"; reason: string; attempts: number };

/**
 * Imports quarantined message `quarantineId` again. Throws `JobError("bad-input")` when there is no
 * such row or no raw bytes were kept (nothing to try); an import that fails is returned as `failed`.
 */
export async function reimportQuarantined(
  db: Db,
  quarantineId: number,
  deps: { storage: AttachmentStorage; maxAttachmentBytes: number; now: Date; log: Logger },
): Promise<ReimportOutcome> {
  const [row] = await db
    .select({
      quarantine: inboxQuarantine,
      integration: { id: inboxIntegrations.id, companyId: inboxIntegrations.companyId, emailAddress: inboxIntegrations.emailAddress },
    })
    .from(inboxQuarantine)
    .innerJoin(inboxIntegrations, eq(inboxIntegrations.id, inboxQuarantine.integrationId))
    .where(eq(inboxQuarantine.id, quarantineId));
  if (!row) throw new JobError("bad-input", `no set-aside message ${quarantineId}`);
  const { quarantine, integration } = row;
  if (quarantine.rawPath === null) {
    throw new JobError("bad-input", `set-aside message ${quarantineId} has no raw bytes kept: it can only be fetched again from the server`);
  }
  const log = deps.log.with({ integrationId: integration.id, quarantineId });
  try {
    const source = await readAll(deps.storage, quarantine.rawPath);
    const store = await storeMessage(
      db,
      {
        integration,
        folder: quarantine.folder,
        direction: quarantine.direction,
        ...storedKeyOfRow(quarantine),
        source,
        sizeBytes: quarantine.sizeBytes ?? source.length,
        internalDate: null,
        isOversize: false,
        isBackfill: true,
      },
      { now: deps.now, storage: deps.storage, maxAttachmentBytes: deps.maxAttachmentBytes, log },
    );
    await db.delete(inboxQuarantine).where(eq(inboxQuarantine.id, quarantineId));
    log.info("set-aside message imported", { status: store.status });
    return { status: "imported", store };
  } catch (err) {
    const reason = shortReason(err, 500);
    const [updated] = await db
      .update(inboxQuarantine)
      .set({ reason, attempts: sql`${inboxQuarantine.attempts} + 1`, updatedAt: deps.now })
      .where(and(eq(inboxQuarantine.id, quarantineId)))
      .returning({ attempts: inboxQuarantine.attempts });
    log.warn("set-aside message still not importable", { reason });
    return { status: "failed", reason, attempts: updated?.attempts ?? quarantine.attempts + 1 };
  }
}

/** The row's key: its source's id, or its UID at its UIDVALIDITY. */
function storedKeyOfRow(row: { uidValidity: number | null; uid: number | null; sourceMessageId: string | null }): StoredMessageKey {
  if (row.sourceMessageId !== null) return { sourceMessageId: row.sourceMessageId };
  if (row.uidValidity === null || row.uid === null) throw new JobError("bad-input", "set-aside message has neither a UID nor a source id");
  return { uidValidity: row.uidValidity, uid: row.uid };
}

async function readAll(storage: AttachmentStorage, path: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of storage.open(path)) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
