// Removes a mailbox. What it imported is either kept (detached: conversations and messages stay in
// the company's inbox, without a mailbox) or deleted with its attachments' content. Either way the
// folder cursors and set-aside messages (with their raw bytes) go with the mailbox.

import { and, count, eq, inArray, isNotNull, notExists } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { conversations, inboxIntegrations, inboxMessages, inboxQuarantine, messageAttachments } from "../db/schema.js";
import { JobError } from "../errors.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";

/** What a mailbox brought in: the numbers a person is asked about before removing it. */
export interface ImportedMail {
  id: number;
  companyId: number;
  emailAddress: string | null;
  conversations: number;
  messages: number;
  attachments: number;
  quarantined: number;
}

export interface RemovedIntegration extends ImportedMail {
  isMailDeleted: boolean;
  /** Stored contents that could not be deleted (logged by the caller; the rows are gone). */
  filesNotRemoved: number;
}

/** Counts what integration `id` imported. Throws `JobError("bad-input")` when it does not exist. */
export async function countImportedMail(db: Db, id: number): Promise<ImportedMail> {
  const [row] = await db
    .select({ companyId: inboxIntegrations.companyId, emailAddress: inboxIntegrations.emailAddress })
    .from(inboxIntegrations)
    .where(eq(inboxIntegrations.id, id));
  if (!row) throw new JobError("bad-input", `integration ${id} does not exist (see: lokario-cron integrations list)`);
  const [[c], [m], [a], [q]] = await Promise.all([
    db.select({ n: count() }).from(conversations).where(eq(conversations.integrationId, id)),
    db.select({ n: count() }).from(inboxMessages).where(eq(inboxMessages.integrationId, id)),
    db.select({ n: count() }).from(messageAttachments)
      .innerJoin(inboxMessages, eq(messageAttachments.messageId, inboxMessages.id))
      .where(eq(inboxMessages.integrationId, id)),
    db.select({ n: count() }).from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, id)),
  ]);
  return {
    id, companyId: row.companyId, emailAddress: row.emailAddress,
    conversations: c?.n ?? 0, messages: m?.n ?? 0, attachments: a?.n ?? 0, quarantined: q?.n ?? 0,
  };
}

/**
 * Deletes integration `id`. With `shouldDeleteMail`, its messages (and their attachments) go too,
 * and so do its conversations left without any message; otherwise they stay, detached
 * (`integration_id` becomes null through the foreign keys).
 */
export async function removeIntegration(
  db: Db,
  id: number,
  options: { shouldDeleteMail: boolean; storage: AttachmentStorage },
): Promise<RemovedIntegration> {
  const imported = await countImportedMail(db, id);
  const paths = await db.transaction(async (tx) => {
    const rawPaths = await tx
      .select({ path: inboxQuarantine.rawPath })
      .from(inboxQuarantine)
      .where(and(eq(inboxQuarantine.integrationId, id), isNotNull(inboxQuarantine.rawPath)));
    let attachmentPaths: { path: string | null }[] = [];
    if (options.shouldDeleteMail) {
      const ofMailbox = tx.select({ id: inboxMessages.id }).from(inboxMessages).where(eq(inboxMessages.integrationId, id));
      attachmentPaths = await tx
        .select({ path: messageAttachments.filePath })
        .from(messageAttachments)
        .where(and(inArray(messageAttachments.messageId, ofMailbox), eq(messageAttachments.isStored, true)));
      await tx.delete(inboxMessages).where(eq(inboxMessages.integrationId, id));
      // A conversation the mailbox started may also hold messages from elsewhere (a follow-up sent,
      // another mailbox): only the ones left empty go.
      await tx.delete(conversations).where(
        and(
          eq(conversations.integrationId, id),
          notExists(tx.select({ id: inboxMessages.id }).from(inboxMessages).where(eq(inboxMessages.conversationId, conversations.id))),
        ),
      );
    }
    await tx.delete(inboxIntegrations).where(eq(inboxIntegrations.id, id));
    return [...rawPaths, ...attachmentPaths].map((p) => p.path).filter((p): p is string => Boolean(p));
  });
  // Contents go after the commit: a failed transaction must not leave rows pointing at nothing.
  let filesNotRemoved = 0;
  for (const path of paths) {
    await options.storage.remove(path).catch(() => {
      filesNotRemoved += 1;
    });
  }
  return { ...imported, isMailDeleted: options.shouldDeleteMail, filesNotRemoved };
}
