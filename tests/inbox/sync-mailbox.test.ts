import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { BATCH_MAX_MESSAGES } from "../../lib/inbox/mail-source.js";
import { imapSource } from "../../lib/inbox/imap/imap-source.js";
import { type MailboxSyncContext, syncMailbox } from "../../lib/inbox/sync-mailbox.js";
import type { Budget } from "../../lib/jobs/budget.js";
import { claimDueIntegrations } from "../../lib/inbox/claim-integrations.js";
import { silentLogger } from "../../lib/log.js";
import { withImap } from "../../lib/mail/imap.js";
import { createLocalStorage } from "../../lib/storage/attachment-storage.js";
import { TEST_ENCRYPTION_KEY, TEST_MAIL_HOST_POLICY } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";

const DAY_MS = 86_400_000;

/** A budget that runs out after `checks` questions, so a test can stop a sync between two batches. */
function budgetFor(checks: number): Budget {
  let asked = 0;
  return {
    budgetMs: 25_000,
    remainingMs: () => (asked < checks ? 25_000 : 0),
    isExhausted: () => ++asked > checks,
    signal: new AbortController().signal,
  };
}

describe("syncing one folder across runs", () => {
  const database = useDatabase("pg");

  it("resumes a first-sync window cut by the budget as backfill, skipping old mail, then imports new mail as new", async () => {
    const mailbox = await createMailbox();
    const old = new Date(Date.now() - 60 * DAY_MS);
    await mailbox.appendAll([
      ...Array.from({ length: BATCH_MAX_MESSAGES }, (_, i) => ({ raw: rawMail({ subject: `Récent ${i + 1}` }) })),
      { raw: rawMail({ subject: "Vieux, arrivé tard", date: old }), internalDate: old },
      { raw: rawMail({ subject: "Récent, après le vieux" }) },
    ]);
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const [integration] = await claimDueIntegrations(database.db, { owner: "run-1", leaseMs: 60_000, limit: 1, now: new Date(), integrationId });
    const storage = createLocalStorage(mkdtempSync(join(tmpdir(), "lokario-mailbox-")));
    const syncWith = (budget: Budget) =>
      withImap(integration!, { keys: { encryptionKey: TEST_ENCRYPTION_KEY }, connectTimeoutMs: 5_000, commandTimeoutMs: 5_000, log: silentLogger, hostPolicy: TEST_MAIL_HOST_POLICY }, ({ client }) => {
        const ctx: MailboxSyncContext = {
          db: database.db, source: imapSource(client), log: silentLogger, integration: integration!, owner: "run-1", now: () => new Date(),
          budget, reserveMs: 0, storage, maxMessageBytes: 1_000_000, maxAttachmentBytes: 1_000_000,
        };
        return syncMailbox(ctx, { path: "INBOX", direction: "inbound" });
      });

    // Checks: before the first round, before batch 1 (the first BATCH_MAX_MESSAGES UIDs), before
    // batch 2 (the last UID; the old one is outside the window) → stop.
    const cut = await syncWith(budgetFor(2));
    expect(cut).toMatchObject({ imported: BATCH_MAX_MESSAGES, hasMore: true });

    await mailbox.append(rawMail({ subject: "Nouveau après la coupure" }));
    const resumed = await syncWith(budgetFor(100));
    expect(resumed).toMatchObject({ imported: 2, hasMore: false });

    const messages = await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId)).orderBy(inboxMessages.uid);
    expect(messages.map((m) => [m.uid, m.isBackfill])).toEqual([
      ...Array.from({ length: BATCH_MAX_MESSAGES }, (_, i) => [i + 1, true]),
      [BATCH_MAX_MESSAGES + 2, true],
      [BATCH_MAX_MESSAGES + 3, false],
    ]);
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    expect(row!.leaseOwner).toBe("run-1");
  });
});
