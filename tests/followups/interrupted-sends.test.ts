// A follow-up run killed (kill -9) in the middle of a send, with the real `lokario-cron` binary:
// killed before the server had the message, the step is sent again automatically, exactly once;
// killed while handing it over, it is left uncertain for an operator and never resent; either way
// the killed run ends up `abandoned`, not `running` forever.

import { JOBS } from "../../lib/app/job-registry.js";
import { eq } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";
import { followupSendAttempts, jobRuns } from "../../lib/db/schema.js";
import { ABANDONED_REASON, RUN_LEASE_GRACE_MS } from "../../lib/jobs/abandon-runs.js";
import { createLogger } from "../../lib/log.js";
import { readCronStatus } from "../../lib/ops/cron-status.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { waitFor } from "../support/ports.js";
import { startSilentServer } from "../support/silent-server.js";
import { startSmtpServer, useSmtpServer } from "../support/smtp.js";
import { attemptsOf, historyOf, killFollowupRunWhen, runFollowups, seedInvoiceFollowup, SWITCHED_ON } from "./seed.js";

const MINUTE_MS = 60_000;
/** Past the attempt lease (20 min) and the killed run's lease (25 s budget + grace). */
const LATER_MS = 21 * MINUTE_MS;
/** Any day, any hour: the binary runs on the real clock. */
const ALWAYS_OPEN = {
  ...SWITCHED_ON,
  followups: { sending_window: { time_zone: "UTC", business_days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "24:00" } },
};

describe("a follow-up run killed in the middle of a send", () => {
  const database = useDatabase("pg", { scope: "test" });
  const smtp = useSmtpServer();

  beforeEach(async () => {
    smtp.holdReplies(false);
  });

  const runsOf = (job: string) => database.db.select().from(jobRuns).where(eq(jobRuns.job, job));

  it("sends again, exactly once, a step killed while connecting to a server that never greeted", async () => {
    const seeded = await seedInvoiceFollowup(database.db, { settings: ALWAYS_OPEN });
    const silent = await startSilentServer();
    try {
      const killedAt = await killFollowupRunWhen(database, { ...smtp.env(), SMTP_PORT: String(silent.port) }, async () => silent.connections() > 0);
      const [attempt] = await attemptsOf(database.db, seeded.followupId);
      expect(attempt).toMatchObject({ state: "sending", handedOverAt: null });

      const config = testConfig(database, smtp.env());
      const soon = await runFollowups(config, new Date(killedAt.getTime() + 5 * MINUTE_MS));
      expect(soon).toMatchObject({ sent: 0, skippedByReason: { send_in_progress: 1 } });

      const later = await runFollowups(config, new Date(killedAt.getTime() + LATER_MS));
      expect(later).toMatchObject({ sent: 1, failed: 0, uncertain: 0 });
      const again = await runFollowups(config, new Date(killedAt.getTime() + LATER_MS + MINUTE_MS));
      expect(again).toMatchObject({ sent: 0 });
    } finally {
      await silent.close();
    }
    const [mail, ...others] = smtp.receivedBy(seeded.clientEmail);
    expect(others).toHaveLength(0);
    const [history, ...moreHistory] = await historyOf(database.db, seeded.followupId);
    expect(moreHistory).toHaveLength(0);
    expect(history!.messageId).toBe(mail!.messageId);
    expect((await attemptsOf(database.db, seeded.followupId)).map((a) => a.state)).toEqual(["sent"]);
  });

  it("leaves a step killed after handing the message over uncertain, and never sends it again", async () => {
    const seeded = await seedInvoiceFollowup(database.db, { settings: ALWAYS_OPEN });
    smtp.holdReplies(true);
    const killedAt = await killFollowupRunWhen(database, smtp.env(), async () => smtp.receivedBy(seeded.clientEmail).length > 0);
    const [attempt] = await attemptsOf(database.db, seeded.followupId);
    expect(attempt!.state).toBe("sending");
    expect(attempt!.handedOverAt).toBeInstanceOf(Date);

    smtp.holdReplies(false);
    const config = testConfig(database, smtp.env());
    const later = await runFollowups(config, new Date(killedAt.getTime() + LATER_MS));
    expect(later).toMatchObject({ sent: 0, uncertain: 1, skippedByReason: { previous_send_uncertain: 1 } });
    const nextDay = await runFollowups(config, new Date(killedAt.getTime() + 24 * 60 * MINUTE_MS));
    expect(nextDay).toMatchObject({ sent: 0, uncertain: 0, skippedByReason: { previous_send_uncertain: 1 } });
    expect(smtp.receivedBy(seeded.clientEmail)).toHaveLength(1);
    const [settled] = await database.db.select().from(followupSendAttempts).where(eq(followupSendAttempts.id, attempt!.id));
    expect(settled).toMatchObject({ state: "uncertain", messageId: attempt!.messageId });
  });

  it("never sends a step from a run that outlived its attempt's lease once another run has sent it", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    const frozen = await startSmtpServer();
    try {
      frozen.holdGreetings();
      const firstDay = new Date("2026-03-09T08:00:00Z");
      const lateRun = runFollowups(testConfig(database, { ...frozen.env(), SMTP_TIMEOUT_MS: "60000" }), firstDay);
      await waitFor("the late run to claim the step and connect", async () =>
        frozen.connectionCount() > 0 && (await attemptsOf(database.db, seeded.followupId)).length > 0);

      const nextRun = await runFollowups(testConfig(database, smtp.env()), new Date(firstDay.getTime() + LATER_MS));
      expect(nextRun).toMatchObject({ sent: 1, uncertain: 0 });
      frozen.releaseGreetings();
      expect(await lateRun).toMatchObject({ sent: 0, failed: 0, skippedByReason: { send_in_progress: 1 } });
      expect(frozen.received).toHaveLength(0);
    } finally {
      await frozen.close();
    }
    expect(smtp.receivedBy(seeded.clientEmail)).toHaveLength(1);
    expect(await historyOf(database.db, seeded.followupId)).toHaveLength(1);
    expect((await attemptsOf(database.db, seeded.followupId)).map((a) => a.state)).toEqual(["sent"]);
  });

  it("marks the killed run abandoned once its lease has passed, and the status shows it so", async () => {
    await seedInvoiceFollowup(database.db, { settings: ALWAYS_OPEN });
    const silent = await startSilentServer();
    try {
      await killFollowupRunWhen(database, { ...smtp.env(), SMTP_PORT: String(silent.port) }, async () => silent.connections() > 0);
    } finally {
      await silent.close();
    }
    const [killed] = await runsOf("followups");
    expect(killed).toMatchObject({ status: "running", finishedAt: null });
    const config = testConfig(database, smtp.env());
    const log = createLogger("test", { level: "silent" });

    // Within its budget and grace it could still be alive: left alone.
    await runFollowups(config, new Date(killed!.startedAt.getTime() + config.runBudgetMs));
    expect((await database.db.select().from(jobRuns).where(eq(jobRuns.runId, killed!.runId)))[0]).toMatchObject({ status: "running" });

    const pastLeaseAt = new Date(killed!.startedAt.getTime() + config.runBudgetMs + RUN_LEASE_GRACE_MS + MINUTE_MS);
    await runFollowups(config, pastLeaseAt);
    const [abandoned] = await database.db.select().from(jobRuns).where(eq(jobRuns.runId, killed!.runId));
    expect(abandoned).toMatchObject({ status: "abandoned", finishedAt: pastLeaseAt, error: ABANDONED_REASON });

    const status = await readCronStatus(database.db, { config, log, now: () => pastLeaseAt }, JOBS);
    expect(status.jobs.followups!.lastRuns).toContainEqual(expect.objectContaining({ runId: killed!.runId, status: "abandoned", error: ABANDONED_REASON }));
  });

  it("marks a run left running abandoned when the status is read after its lease, without any other run", async () => {
    const startedAt = new Date("2026-03-09T08:00:00Z");
    await database.db.insert(jobRuns).values({
      runId: "cut-by-a-database-outage", job: "inbox-sync", trigger: "http", startedAt, leaseUntil: new Date(startedAt.getTime() + 30_000),
    });
    const config = testConfig(database, smtp.env());
    const log = createLogger("test", { level: "silent" });
    const before = await readCronStatus(database.db, { config, log, now: () => new Date(startedAt.getTime() + 20_000) }, JOBS);
    expect(before.jobs["inbox-sync"]!.lastRuns[0]).toMatchObject({ status: "running" });
    const after = await readCronStatus(database.db, { config, log, now: () => new Date(startedAt.getTime() + 31_000) }, JOBS);
    expect(after.jobs["inbox-sync"]!.lastRuns[0]).toMatchObject({ status: "abandoned", error: ABANDONED_REASON });
  });
});
