// Where the two jobs meet: a follow-up goes out over SMTP, the client answers it into the company's
// mailbox on Dovecot, the inbox sync imports the answer, and the next follow-up run stops.

import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { inboxMessages } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";
import { useSmtpServer } from "../support/smtp.js";
import { historyOf, runFollowups, seedCompany, seedInvoiceFollowup, statusOf } from "./seed.js";

describe("a client's reply synced from the mailbox", () => {
  const smtp = useSmtpServer();
  const database = useDatabase("pg");


  it("stops the next follow-up once the inbox sync has imported the client's answer from Dovecot", async () => {
    const config = testConfig(database, smtp.env());
    const syncAt = (now: Date) =>
      runJob(syncAllJob, {}, { config, log: createLogger("test", { level: "silent" }), trigger: "test", now: () => now });
    const companyId = await seedCompany(database.db);
    const mailbox = await createMailbox();
    await insertIntegration(database.db, mailbox, { companyId, values: { isPrimary: true } });
    const seeded = await seedInvoiceFollowup(database.db, { companyId });
    // The first sync of an empty mailbox: later mail is live, not a backfill.
    expect(await syncAt(new Date("2026-03-09T07:00:00Z"))).toMatchObject({ integrations: { succeeded: 1 } });

    expect(await runFollowups(config, new Date("2026-03-09T08:00:00Z"))).toMatchObject({ sent: 1 });
    const [sent] = smtp.receivedBy(seeded.clientEmail);
    expect(sent!.parsed.replyTo?.text).toBe(mailbox.user);

    await mailbox.append(
      rawMail({
        from: `Marie Curie <${seeded.clientEmail}>`,
        to: mailbox.user,
        subject: `Re: ${sent!.parsed.subject}`,
        date: new Date("2026-03-10T09:00:00Z"),
        body: "Bonjour, le virement part demain. Cordialement.",
        headers: { "In-Reply-To": sent!.messageId!, References: sent!.messageId! },
      }),
    );
    expect(await syncAt(new Date("2026-03-10T09:30:00Z"))).toMatchObject({ messagesImported: 1 });
    const [history] = await historyOf(database.db, seeded.followupId);
    const threaded = await database.db.select().from(inboxMessages).where(eq(inboxMessages.conversationId, history!.conversationId!));
    expect(threaded.map((m) => m.isFromClient)).toEqual([false, true]);

    const next = await runFollowups(config, new Date("2026-03-23T08:00:00Z"));
    expect(next).toMatchObject({ sent: 0, closed: 1, closedByReason: { client_replied: 1 } });
    expect(await statusOf(database.db, seeded.followupId)).toBe("Fait");
    expect(smtp.receivedBy(seeded.clientEmail)).toHaveLength(1);
  });
});
