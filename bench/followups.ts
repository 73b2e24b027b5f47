// Benchmark of the follow-up job: BENCH_FOLLOWUPS due invoice follow-ups (one per client), spread
// over BENCH_COMPANIES companies, sent to a local SMTP server until the job reports nothing
// remaining. Two cases: every company sends through its own mailbox (one SMTP account each, all
// pointing at the local server), and every company sends through the one global SMTP server.
// `npx tsx bench/followups.ts` runs these cases alone, on a PostgreSQL of their own.

import { fileURLToPath } from "node:url";
import pg from "pg";
import { loadConfig } from "../lib/config.js";
import { encryptSecret } from "../lib/crypto/secret-box.js";
import type { Db } from "../lib/db/client.js";
import { openDb } from "../lib/db/client.js";
import { migrateDb } from "../lib/db/migrate.js";
import { inboxIntegrations } from "../lib/db/schema.js";
import { processAutomaticJob } from "../lib/followups/process-automatic.js";
import { runJob } from "../lib/jobs/run-job.js";
import { createLogger } from "../lib/log.js";
import { seedCompany, seedInvoiceFollowup } from "../tests/followups/seed.js";
import { type PostgresServer, startPostgres } from "../tests/support/postgres.js";
import { startSmtpServer, type TestSmtpServer } from "../tests/support/smtp.js";
import type { Figure } from "./run.js";

const FOLLOWUPS = Number(process.env.BENCH_FOLLOWUPS ?? 2000);
const COMPANIES = Number(process.env.BENCH_COMPANIES ?? 200);
/** A Tuesday at 10:00 in Paris, inside business hours, weeks after the invoices' due date. */
const NOW = new Date("2026-03-24T09:00:00Z");
const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");
/** The one login every company's mailbox uses on the local server. */
const MAILBOX_LOGIN = { user: "bench", password: "bench-password" };

type SendingCase = "own mailboxes" | "global server";

/** Sends FOLLOWUPS first reminders in each case and reports the throughput and the cost of a run with nothing due. */
export async function benchFollowups(postgres: PostgresServer): Promise<Figure[]> {
  const smtp = await startSmtpServer();
  smtp.requireAuth(MAILBOX_LOGIN);
  try {
    return [...(await benchCase(postgres, smtp, "own mailboxes")), ...(await benchCase(postgres, smtp, "global server"))];
  } finally {
    await smtp.close();
  }
}

async function benchCase(postgres: PostgresServer, smtp: TestSmtpServer, sending: SendingCase): Promise<Figure[]> {
  const database = `bench_followups_${sending === "own mailboxes" ? "own" : "global"}`;
  const admin = new pg.Client({ connectionString: postgres.url("postgres") });
  await admin.connect();
  await admin.query(`create database ${database}`);
  await admin.end();
  const config = loadConfig({
    DATABASE_URL: postgres.url(database), ENCRYPTION_KEY, LOG_LEVEL: "silent",
    // The companies' mailboxes point at the local server, on loopback.
    ALLOW_PRIVATE_MAIL_HOSTS: "true",
    ...smtp.env("relances@bench.test"), SMTP_USER: MAILBOX_LOGIN.user, SMTP_PASSWORD: MAILBOX_LOGIN.password,
  });
  const open = await openDb(config.database);
  await migrateDb(open.db);
  await seed(open.db, smtp, sending);
  await open.close();
  const log = createLogger("bench", { level: "silent" });
  const run = () => runJob(processAutomaticJob, { isDryRun: false }, { config, log, trigger: "cli", now: () => NOW });

  smtp.received.length = 0;
  let started = performance.now();
  let runs = 0;
  for (;;) {
    runs++;
    if (!(await run()).remaining) break;
  }
  const sendMs = performance.now() - started;
  console.error(`follow-ups through ${sending}: ${runs} run(s), ${(sendMs / 1000).toFixed(1)} s`);
  const messageIds = new Set(smtp.received.map((m) => m.messageId));
  if (smtp.received.length !== FOLLOWUPS || messageIds.size !== FOLLOWUPS) {
    throw new Error(`sent ${smtp.received.length} emails (${messageIds.size} distinct) for ${FOLLOWUPS} follow-ups`);
  }
  started = performance.now();
  await run();
  const idleMs = performance.now() - started;
  return [
    { name: `follow-ups sent, ${FOLLOWUPS} due, ${COMPANIES} companies, ${sending}`, value: FOLLOWUPS / (sendMs / 1000), unit: "mail/s", isHigherBetter: true },
    { name: `follow-up run with ${FOLLOWUPS} already sent, ${sending}`, value: idleMs, unit: "ms", isHigherBetter: false },
  ];
}

/** COMPANIES companies, each with FOLLOWUPS / COMPANIES clients owing an invoice, and a mailbox unless sending globally. */
async function seed(db: Db, smtp: TestSmtpServer, sending: SendingCase): Promise<void> {
  const password = encryptSecret(MAILBOX_LOGIN.password, { encryptionKey: ENCRYPTION_KEY });
  for (let c = 0; c < COMPANIES; c++) {
    const companyId = await seedCompany(db, undefined, `Entreprise ${c}`);
    if (sending === "own mailboxes") {
      await db.insert(inboxIntegrations).values({
        companyId, name: `mailbox ${c}`, imapServer: "127.0.0.1", imapPort: 143, useSsl: false, emailAddress: `compta@entreprise-${c}.test`,
        emailPassword: password, isPrimary: true, smtpServer: smtp.host, smtpPort: smtp.port, smtpUseSsl: false,
        smtpUsername: MAILBOX_LOGIN.user, smtpPassword: password,
      });
    }
    const count = Math.floor(FOLLOWUPS / COMPANIES) + (c < FOLLOWUPS % COMPANIES ? 1 : 0);
    for (let i = 0; i < count; i++) await seedInvoiceFollowup(db, { companyId });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const postgres = await startPostgres();
  try {
    for (const figure of await benchFollowups(postgres)) console.log(`${figure.name}: ${figure.value.toFixed(1)} ${figure.unit}`);
  } finally {
    await postgres.stop();
  }
}
