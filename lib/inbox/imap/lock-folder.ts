// Opens a folder for the sync: EXAMINE (read-only) as a rule, SELECT for a folder whose server
// renumbers read-only sessions. GNU Mailutils imap4d with a Maildir whose messages are still in
// new/ gives a new UIDVALIDITY to every EXAMINE until a client opens the folder read-write: read
// only, such a folder would be imported again on every sync and then stopped. SELECT changes no
// flag by itself, and the sync only ever FETCHes BODY.PEEK (RFC 3501 §6.4.5), so \Seen stays as it is.

import { and, eq } from "drizzle-orm";
import type { ImapFlow, MailboxLockObject, MailboxObject } from "imapflow";
import type { Db } from "../../db/client.js";
import { inboxFolderCursors } from "../../db/schema.js";
import { JobError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { leaseHeldBy } from "../claim-integrations.js";
import type { CursorKey, FolderCursor } from "./cursor.js";

export interface LockedFolder {
  lock: MailboxLockObject;
  box: MailboxObject;
  /** This session found the server renumbering read-only opens and reopened the folder with SELECT. */
  hasSwitchedToReadWrite: boolean;
}

/**
 * Opens `path` read-only, or read-write when its cursor says so. A second new UIDVALIDITY in a row
 * under EXAMINE is taken as a server that renumbers read-only sessions: the folder is reopened with
 * SELECT, and stays so (`opens_read_write`). One change alone is an index rebuild, as on any server.
 */
export async function lockFolder(client: ImapFlow, path: string, cursor: FolderCursor | null, log: Logger): Promise<LockedFolder> {
  const readOnly = !cursor?.opensReadWrite;
  let lock = await client.getMailboxLock(path, { readOnly, description: "inbox sync" });
  let hasSwitchedToReadWrite = false;
  try {
    const examined = openedBox(client, path);
    const isRenumbering = readOnly && cursor !== null && cursor.uidValidityChanges > 0 && Number(examined.uidValidity) !== cursor.uidValidity;
    if (isRenumbering) {
      log.warn("UIDVALIDITY changed again under EXAMINE: the folder is opened with SELECT from now on", {
        folder: path, uidValidity: Number(examined.uidValidity), previousUidValidity: cursor.uidValidity,
      });
      lock.release();
      lock = await client.getMailboxLock(path, { readOnly: false, description: "inbox sync (read-write)" });
      hasSwitchedToReadWrite = true;
    }
    return { lock, box: openedBox(client, path), hasSwitchedToReadWrite };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** Remembers that the folder is opened with SELECT. */
export async function markOpensReadWrite(db: Db, key: CursorKey): Promise<void> {
  const c = inboxFolderCursors;
  await db
    .update(c)
    .set({ opensReadWrite: true })
    .where(and(eq(c.integrationId, key.integrationId), eq(c.folder, key.folder), leaseHeldBy(db, key.integrationId, key.owner)));
}

function openedBox(client: ImapFlow, path: string): MailboxObject {
  const box = client.mailbox;
  if (!box) throw new JobError("transient", `folder ${path} could not be opened`);
  return box;
}
