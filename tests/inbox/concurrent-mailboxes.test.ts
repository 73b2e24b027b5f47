// Several mailboxes of one company synced at the same time, on the real PostgreSQL server: the same
// client writing to contact@ and devis@, a newsletter sent to the whole team, replies threading on the
// same Message-IDs. Each mailbox's copy lands in the same company conversation, so the runs contend for
// the same conversation rows.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { count, eq, inArray } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { conversations, inboxMessages, inboxQuarantine } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";

const MAILBOXES = 6;
const RUNS_AT_ONCE = 3;
const DAY_MS = 24 * 60 * 60 * 1000;

describe("inbox sync: mailboxes of one company synced at the same time", () => {
  const database = useDatabase("pg");
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-concurrent-"));


  it("stores every message of every mailbox and sets none aside when they share senders and threads", async () => {
    const mail = sharedMail(new Date(Date.now() - DAY_MS));
    const mailboxes = await Promise.all(Array.from({ length: MAILBOXES }, () => createMailbox()));
    for (const mailbox of mailboxes) await mailbox.appendAll(mail.map((raw) => ({ raw })));
    const { companyId, integrationId: firstId } = await insertIntegration(database.db, mailboxes[0]!);
    const integrationIds = [firstId];
    for (const mailbox of mailboxes.slice(1)) integrationIds.push((await insertIntegration(database.db, mailbox, { companyId })).integrationId);

    const logLines: string[] = [];
    const summaries = await Promise.all(
      Array.from({ length: RUNS_AT_ONCE }, () =>
        runJob(syncAllJob, {}, {
          config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir, RUN_BUDGET_MS: "120000" }),
          log: createLogger("test", { level: "info", sink: (line) => logLines.push(line) }),
          trigger: "test",
        }),
      ),
    );

    expect(summaries.reduce((n, s) => n + s.messagesSetAside, 0)).toBe(0);
    // Not even a retry: the locks are taken in an order that cannot deadlock.
    expect(logLines.filter((line) => /deadlock|trying again/.test(line))).toEqual([]);
    expect(await database.db.select().from(inboxQuarantine).where(inArray(inboxQuarantine.integrationId, integrationIds))).toEqual([]);
    for (const integrationId of integrationIds) {
      const [stored] = await database.db.select({ n: count() }).from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId));
      expect(stored!.n, `messages of integration ${integrationId}`).toBe(mail.length);
    }
    // Every copy of a thread is filed in one company conversation, whichever mailbox stored it first.
    const threads = await database.db
      .select({ subject: conversations.subject, n: count() })
      .from(conversations)
      .where(eq(conversations.companyId, companyId))
      .groupBy(conversations.subject);
    expect(threads.map((t) => t.subject).sort()).toEqual([...new Set(mail.map(subjectOf))].sort());
    expect(threads.filter((t) => t.n !== 1)).toEqual([]);
    const [filed] = await database.db
      .select({ n: count() })
      .from(inboxMessages)
      .innerJoin(conversations, eq(conversations.id, inboxMessages.conversationId))
      .where(eq(conversations.companyId, companyId));
    expect(filed!.n).toBe(mail.length * MAILBOXES);
  });
});

/**
 * The mail every mailbox of the company received: a few clients each writing several messages in one
 * thread (some replies naming the first message's Message-ID, some only repeating the subject), their
 * colleagues answering in the same threads, and a newsletter, interleaved so that every mailbox works on the same threads at the same moment.
 */
function sharedMail(startAt: Date): string[] {
  const clients = ["Alice Martin <alice@client-a.test>", "Bruno Petit <bruno@client-b.test>", "Chloé Roux <chloe@client-c.test>"];
  const mail: string[] = [];
  for (let round = 0; round < 8; round++) {
    for (const [i, from] of clients.entries()) {
      const first = `thread-${i}@client.test`;
      const date = new Date(startAt.getTime() + (round * clients.length + i) * 60_000);
      mail.push(
        rawMail({
          from,
          to: "contact@lokario.test, devis@lokario.test",
          subject: round === 0 ? `Devis chantier ${i}` : `Re: Devis chantier ${i}`,
          date,
          messageId: round === 0 ? first : `thread-${i}-reply-${round}@client.test`,
          headers: round % 2 === 1 ? { "In-Reply-To": `<${first}>`, References: `<${first}>` } : {},
        }),
      );
    }
    if (round % 2 === 1) {
      // A colleague of each client answering in the thread: another sender, the same conversation.
      for (const [i] of clients.entries()) {
        mail.push(
          rawMail({
            from: `Collègue ${i} <colleague-${round}@client-${i}.test>`,
            to: "contact@lokario.test",
            subject: `Re: Devis chantier ${i}`,
            date: new Date(startAt.getTime() + (round * clients.length + i) * 60_000 + 10_000),
            messageId: `thread-${i}-colleague-${round}@client.test`,
            headers: { "In-Reply-To": `<thread-${i}@client.test>`, References: `<thread-${i}@client.test>` },
          }),
        );
      }
    }
    mail.push(
      rawMail({
        from: "Lettre Pro <news@newsletter.test>",
        to: "equipe@lokario.test",
        subject: "Lettre d'information",
        date: new Date(startAt.getTime() + round * 60_000 + 30_000),
        messageId: `newsletter-${round}@newsletter.test`,
      }),
    );
  }
  return mail;
}

function subjectOf(raw: string): string {
  return /^Subject: (?:Re: )?(.*)$/m.exec(raw)![1]!;
}
