// Benchmark of the follow-up job: many due invoice follow-ups (one per client), sent through a local
// SMTP server, until the job reports nothing remaining.

import pg from "pg";
import { loadConfig } from "../lib/config.js";
import { openDb } from "../lib/db/client.js";
import { migrateDb } from "../lib/db/migrate.js";
import { processAutomaticJob } from "../lib/followups/process-automatic.js";
import { runJob } from "../lib/jobs/run-job.js";
import { createLogger } from "../lib/log.js";
import { seedCompany, seedInvoiceFollowup } from "../tests/followups/seed.js";
import type { PostgresServer } from "../tests/support/postgres.js";
import { startSmtpServer } from "../tests/support/smtp.js";
import type { Figure } from "./run.js";

const FOLLOWUPS = Number(process.env.BENCH_FOLLOWUPS ?? 300);
/** A Tuesday at 10:00 in Paris, inside business hours, weeks after the invoices' due date. */
const NOW = new Date("2026-03-24T09:00:00Z");

/** Sends FOLLOWUPS first reminders and reports the throughput and the cost of a run with nothing due. */
export async function benchFollowups(postgres: PostgresServer): Promise<Figure[]> {
  const admin = new pg.Client({ connectionString: postgres.url("postgres") });
  await admin.connect();
  await admin.query("create database bench_followups");
  await admin.end();
  const smtp = await startSmtpServer();
  try {
    const config = loadConfig({ DATABASE_URL: postgres.url("bench_followups"), LOG_LEVEL: "silent", ...smtp.env("relances@bench.test") });
    const open = await openDb(config.database);
    await migrateDb(open.db);
    const companyId = await seedCompany(open.db);
    for (let i = 0; i < FOLLOWUPS; i++) await seedInvoiceFollowup(open.db, { companyId });
    await open.close();
    const log = createLogger("bench", { level: "silent" });
    const run = () => runJob(processAutomaticJob, { isDryRun: false }, { config, log, trigger: "cli", now: () => NOW });

    let started = performance.now();
    let runs = 0;
    for (;;) {
      runs++;
      if (!(await run()).remaining) break;
    }
    const sendMs = performance.now() - started;
    console.error(`follow-ups: ${runs} run(s)`);
    if (smtp.received.length !== FOLLOWUPS) throw new Error(`sent ${smtp.received.length} of ${FOLLOWUPS} follow-ups`);
    started = performance.now();
    await run();
    const idleMs = performance.now() - started;
    return [
      { name: `follow-ups sent, ${FOLLOWUPS} due`, value: FOLLOWUPS / (sendMs / 1000), unit: "mail/s", isHigherBetter: true },
      { name: `follow-up run with ${FOLLOWUPS} already sent`, value: idleMs, unit: "ms", isHigherBetter: false },
    ];
  } finally {
    await smtp.close();
  }
}
