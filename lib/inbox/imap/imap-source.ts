// The IMAP mail source: one ImapFlow session read-only (EXAMINE, BODY.PEEK: the server's mailbox,
// flags included, is never changed; SELECT only where the server renumbers EXAMINE, `lock-folder.ts`). A folder's cursor is its UIDVALIDITY and the last UID imported
// (RFC 3501 §2.3.1.1); UIDVALIDITY is the folder's epoch.
//
// - First sync (of the mailbox, or of a folder that appeared later): only the recent window
//   (INTERNALDATE within `initial_sync_days`, the newest `initial_sync_max_messages`), imported as
//   backfill, except the messages dated after the mailbox was connected (`backfill-rule.ts`).
// - Then: the UIDs after the cursor, in UID order, in small batches.
// - UIDVALIDITY changed: the same window again (Message-ID dedupe drops what is already imported),
//   never `UID 0:*`; several changes in a row stop the folder with an error.

import type { ImapFlow, MailboxObject } from "imapflow";
import type { Config } from "../../config.js";
import type { Db } from "../../db/client.js";
import { JobError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { credentialsFor, isRenewable, type MailLogin, renewedLoginRefused } from "../../mail/credentials.js";
import { withImap } from "../../mail/imap.js";
import type { ClaimedIntegration } from "../claim-integrations.js";
import { advanceCursor, type CursorKey, type FolderCursor, isCaughtUp, markUidValidityStable, readCursor, startCursor } from "./cursor.js";
import { downloadBatches, fetchContent } from "./fetch-new.js";
import { recordFetchShortfall } from "./fetch-shortfall.js";
import { type FolderPlanContext, planFolders } from "./folder-plan.js";
import { lockFolder, markOpensReadWrite } from "./lock-folder.js";
import type { FolderReading, MailSource, SourceFolder } from "../mail-source.js";
import { searchWindowUids } from "./search-uids.js";

/** A server that gives a new UIDVALIDITY on this many syncs in a row is renumbering all the time. */
export const MAX_CONSECUTIVE_UIDVALIDITY_CHANGES = 3;

/** What opening an integration's IMAP session needs. */
export interface ImapSourceContext {
  db: Db;
  config: Config;
  log: Logger;
  now: () => Date;
  /** Ends the session at once when it fires (the budget's hard stop). */
  hardStop: AbortSignal;
}

/**
 * Runs `read` on the integration's mailbox over one IMAP session (logged out in the end). An OAuth2
 * token refused by the server (revoked before its expiry) is replaced once by a new one: a refused
 * grant then surfaces as the provider's answer.
 */
export async function withImapSource(
  ctx: ImapSourceContext,
  integration: ClaimedIntegration,
  read: (source: MailSource, log: Logger) => Promise<void>,
): Promise<void> {
  const session = (login: MailLogin) => withImap(
    integration,
    {
      keys: { encryptionKey: ctx.config.encryptionKey, legacyMasterKey: ctx.config.legacyMasterKey },
      login,
      connectTimeoutMs: ctx.config.imap.connectTimeoutMs,
      commandTimeoutMs: ctx.config.imap.commandTimeoutMs,
      log: ctx.log,
      signal: ctx.hardStop,
      hostPolicy: ctx.config.mailHosts,
    },
    ({ client, log }) => read(imapSource(client, { db: ctx.db, integrationId: integration.id, address: integration.emailAddress, now: ctx.now, log }), log),
  );
  const deps = { db: ctx.db, config: ctx.config, now: ctx.now, log: ctx.log };
  const login = await credentialsFor(integration, "imap", deps);
  try {
    await session(login);
  } catch (err) {
    if (!(err instanceof JobError && err.kind === "auth" && isRenewable(login)) || ctx.hardStop.aborted) throw err;
    try {
      await session(await credentialsFor(integration, "imap", deps, login));
    } catch (again) {
      // A shared mailbox refusing the new token too has stopped accepting the consenting account: it
      // needs a member to connect it again, like a refused grant.
      if (again instanceof JobError && again.kind === "auth") await renewedLoginRefused(integration, deps, again);
      throw again;
    }
  }
}

/** The mailbox behind an open, authenticated IMAP session. */
export function imapSource(client: ImapFlow, folderPlan?: FolderPlanContext): MailSource {
  return {
    listFolders: (roles) => planFolders(client, roles, folderPlan),
    openFolder: (folder, reading) => openFolder(client, folder.path, reading),
  };
}

async function openFolder(client: ImapFlow, path: string, reading: FolderReading): Promise<SourceFolder> {
  const key: CursorKey = { integrationId: reading.integrationId, folder: path, owner: reading.owner };
  const existing = await readCursor(reading.db, key);
  const { lock, box, hasSwitchedToReadWrite } = await lockFolder(client, path, existing, reading.log);
  try {
    if (hasSwitchedToReadWrite) await markOpensReadWrite(reading.db, key);
    const cursor = await openCursor(client, reading, key, box, existing, hasSwitchedToReadWrite);
    return {
      epoch: cursor.uidValidity,
      // Nothing after the cursor, as the folder's UIDNEXT shows: no SEARCH, no download.
      isCaughtUp: isCaughtUp(cursor, box.uidNext),
      readChanges: (shouldStop) => downloadBatches(
        client,
        {
          afterUid: cursor.lastUid, backfillUntilUid: cursor.backfillUntilUid, rule: reading.rule, now: reading.now(), maxMessageBytes: reading.maxMessageBytes,
          onShortfall: (missingUids) => recordFetchShortfall(reading.db, key, missingUids, reading.now(), reading.log),
        },
        shouldStop,
      ),
      advanceCursor: async (position) => {
        if (typeof position !== "number") throw new Error("an IMAP folder's cursor is a UID");
        const lastUid = position;
        if (lastUid <= cursor.lastUid) return;
        if (!(await advanceCursor(reading.db, key, { uidValidity: cursor.uidValidity, lastUid }, reading.now()))) throw leaseLost();
        cursor.lastUid = lastUid;
      },
      fetchRaw: async (message) => {
        if (message.uid === undefined) throw new Error("an IMAP message is keyed by its UID");
        return (await fetchContent(client, [message], reading.maxMessageBytes))[0]?.source ?? null;
      },
      close: () => lock.release(),
    };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/**
 * The folder's cursor, started (first sync) or restarted (UIDVALIDITY change) when needed. The change
 * found when a folder is first reopened with SELECT is expected, and does not count towards the stop.
 */
async function openCursor(
  client: ImapFlow, reading: FolderReading, key: CursorKey, box: MailboxObject, existing: FolderCursor | null, hasSwitchedToReadWrite: boolean,
): Promise<FolderCursor> {
  const { db, rule, log } = reading;
  const uidValidity = Number(box.uidValidity);
  if (existing && existing.uidValidity === uidValidity) {
    if (existing.uidValidityChanges > 0) await markUidValidityStable(db, key);
    return { ...existing, uidValidityChanges: 0 };
  }
  if (existing && !hasSwitchedToReadWrite && existing.uidValidityChanges + 1 >= MAX_CONSECUTIVE_UIDVALIDITY_CHANGES) {
    throw new JobError(
      "permanent",
      `UIDVALIDITY of ${key.folder} changed on ${existing.uidValidityChanges + 1} syncs in a row: sync stopped, the server keeps renumbering its messages`,
    );
  }
  const window = await searchWindowUids(client, rule, reading.now());
  const highestUid = Math.max(await highestUidOf(client, box), window[window.length - 1] ?? 0);
  const start = {
    uidValidity,
    lastUid: window.length > 0 ? window[0]! - 1 : highestUid,
    backfillUntilUid: highestUid,
    isUidValidityChange: existing !== null,
  };
  if (!(await startCursor(db, key, start, reading.now()))) throw leaseLost();
  log.info(existing ? "UIDVALIDITY changed: importing the recent window again" : "first sync: importing the recent window", {
    uidValidity,
    previousUidValidity: existing?.uidValidity,
    windowMessages: window.length,
  });
  return { uidValidity, lastUid: start.lastUid, backfillUntilUid: highestUid, uidValidityChanges: (existing?.uidValidityChanges ?? -1) + 1 };
}

/** The highest UID in the folder: UIDNEXT − 1, or the last message's UID when the server gave no UIDNEXT. */
async function highestUidOf(client: ImapFlow, box: MailboxObject): Promise<number> {
  if (box.uidNext > 0) return box.uidNext - 1;
  if (box.exists === 0) return 0;
  const last = await client.fetchOne("*", { uid: true });
  return last ? last.uid : 0;
}

function leaseLost(): JobError {
  return new JobError("transient", "another run took over this integration (lease expired)");
}
