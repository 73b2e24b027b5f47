// Benchmark of the follow-up job: BENCH_FOLLOWUPS due invoice follow-ups (one per client), spread
// over BENCH_COMPANIES companies, sent to a local SMTP server until the job reports nothing
// remaining. Two cases: every company sends through its own mailbox (one SMTP account each, all
// pointing at the local server), and every company sends through the one global SMTP server (over
// SMTP_MAX_CONNECTIONS connections: BENCH_SMTP_MAX_CONNECTIONS, else the product's default).
// `npx tsx bench/followups.ts` runs these cases alone, on a PostgreSQL of their own;
// BENCH_FOLLOWUPS_CASE=own or =global runs one of them.

import { fork } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";
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
import { startSmtpServer } from "../tests/support/smtp.js";
import type { Figure } from "./figure.js";

const FOLLOWUPS = Number(process.env.BENCH_FOLLOWUPS ?? 2000);
const COMPANIES = Number(process.env.BENCH_COMPANIES ?? 200);
/** A Tuesday at 10:00 in Paris, inside business hours, weeks after the invoices' due date. */
const NOW = new Date("2026-03-24T09:00:00Z");
const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");
/** The one login every company's mailbox uses on the local server. */
const MAILBOX_LOGIN = { user: "bench", password: "bench-password" };
const GLOBAL_MAX_CONNECTIONS = process.env.BENCH_SMTP_MAX_CONNECTIONS;
const ONLY_CASE = process.env.BENCH_FOLLOWUPS_CASE;

type SendingCase = "own mailboxes" | "global server";

/** Sends FOLLOWUPS first reminders in each case and reports the throughput and the cost of a run with nothing due. */
export async function benchFollowups(postgres: PostgresServer): Promise<Figure[]> {
  const smtp = await startSmtpProcess();
  try {
    return [
      ...(ONLY_CASE === "global" ? [] : await benchCase(postgres, smtp, "own mailboxes")),
      ...(ONLY_CASE === "own" ? [] : await benchCase(postgres, smtp, "global server")),
    ];
  } finally {
    await smtp.close();
  }
}

async function benchCase(postgres: PostgresServer, smtp: SmtpProcess, sending: SendingCase): Promise<Figure[]> {
  const database = `bench_followups_${sending === "own mailboxes" ? "own" : "global"}`;
  const admin = new pg.Client({ connectionString: postgres.url("postgres") });
  await admin.connect();
  await admin.query(`create database ${database}`);
  await admin.end();
  const config = loadConfig({
    DATABASE_URL: postgres.url(database), ENCRYPTION_KEY, LOG_LEVEL: "silent",
    // The companies' mailboxes point at the local server, on loopback.
    ALLOW_PRIVATE_MAIL_HOSTS: "true",
    SMTP_HOST: smtp.host, SMTP_PORT: String(smtp.port), SMTP_SECURE: "false", SMTP_FROM: "relances@bench.test",
    SMTP_USER: MAILBOX_LOGIN.user, SMTP_PASSWORD: MAILBOX_LOGIN.password,
    ...(GLOBAL_MAX_CONNECTIONS ? { SMTP_MAX_CONNECTIONS: GLOBAL_MAX_CONNECTIONS } : {}),
  });
  const open = await openDb(config.database);
  await migrateDb(open.db);
  await seed(open.db, smtp, sending);
  await open.close();
  const log = createLogger("bench", { level: "silent" });
  const run = () => runJob(processAutomaticJob, { isDryRun: false }, { config, log, trigger: "cli", now: () => NOW });

  await smtp.ask("reset");
  const profiler = await startProfiler();
  const cpuBefore = process.cpuUsage();
  let started = performance.now();
  let runs = 0;
  for (;;) {
    runs++;
    if (!(await run()).remaining) break;
  }
  const sendMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  await profiler?.stopInto(`followups-${sending.replace(" ", "-")}.cpuprofile`);
  // This process also runs the SMTP server (which parses every message): its CPU time, per email.
  const cpuMsPerMail = (cpu.user + cpu.system) / 1000 / FOLLOWUPS;
  console.error(`follow-ups through ${sending}: ${runs} run(s), ${(sendMs / 1000).toFixed(1)} s, ${cpuMsPerMail.toFixed(2)} ms of this process's CPU per email`);
  const { received, distinct } = await smtp.ask("count");
  if (received !== FOLLOWUPS || distinct !== FOLLOWUPS) throw new Error(`sent ${received} emails (${distinct} distinct) for ${FOLLOWUPS} follow-ups`);
  started = performance.now();
  await run();
  const idleMs = performance.now() - started;
  return [
    { name: `follow-ups sent, ${FOLLOWUPS} due, ${COMPANIES} companies, ${sending}`, value: FOLLOWUPS / (sendMs / 1000), unit: "mail/s", isHigherBetter: true },
    { name: `follow-up run with ${FOLLOWUPS} already sent, ${sending}`, value: idleMs, unit: "ms", isHigherBetter: false },
  ];
}

/** COMPANIES companies, each with FOLLOWUPS / COMPANIES clients owing an invoice, and a mailbox unless sending globally. */
async function seed(db: Db, smtp: SmtpProcess, sending: SendingCase): Promise<void> {
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

/**
 * BENCH_PROFILE=dir: a CPU profile of the sending runs alone (not the seeding), written into dir,
 * to open in Chrome's DevTools.
 */
async function startProfiler(): Promise<{ stopInto(file: string): Promise<void> } | undefined> {
  const dir = process.env.BENCH_PROFILE;
  if (!dir) return undefined;
  const session = new Session();
  session.connect();
  const post = (method: string) =>
    new Promise<unknown>((resolve, reject) => session.post(method, (err, result) => (err ? reject(err) : resolve(result))));
  await post("Profiler.enable");
  await post("Profiler.start");
  return {
    async stopInto(file) {
      const { profile } = (await post("Profiler.stop")) as { profile: unknown };
      session.disconnect();
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, file), JSON.stringify(profile));
    },
  };
}

interface SmtpProcess {
  host: string;
  port: number;
  /** "count": emails received since the last "reset", and how many distinct Message-IDs among them. */
  ask(question: "count" | "reset"): Promise<{ received: number; distinct: number }>;
  close(): Promise<void>;
}

/**
 * The local SMTP server (tests/support/smtp.ts, which parses every message it receives) in a
 * process of its own, as a real server would be: its work is not counted in the job's process.
 */
async function startSmtpProcess(): Promise<SmtpProcess> {
  const child = fork(fileURLToPath(import.meta.url), [SMTP_SERVER_ARG], { execArgv: ["--import", "tsx"], stdio: "inherit" });
  const replies: ((reply: { host: string; port: number; received: number; distinct: number }) => void)[] = [];
  child.on("message", (reply: { host: string; port: number; received: number; distinct: number }) => replies.shift()?.(reply));
  const next = () => new Promise<{ host: string; port: number; received: number; distinct: number }>((resolve) => replies.push(resolve));
  const { host, port } = await next();
  return {
    host,
    port,
    ask: (question) => {
      const reply = next();
      child.send(question);
      return reply;
    },
    close: async () => {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.send("close");
      await exited;
    },
  };
}

async function serveSmtp(): Promise<void> {
  const smtp = await startSmtpServer();
  smtp.requireAuth(MAILBOX_LOGIN);
  const report = () => ({ host: smtp.host, port: smtp.port, received: smtp.received.length, distinct: new Set(smtp.received.map((m) => m.messageId)).size });
  process.on("message", (question: string) => {
    if (question === "reset") smtp.received.length = 0;
    if (question === "close") {
      void smtp.close().then(() => process.exit(0));
      return;
    }
    process.send!(report());
  });
  process.send!(report());
}

const SMTP_SERVER_ARG = "--smtp-server";

if (process.argv.includes(SMTP_SERVER_ARG)) {
  await serveSmtp();
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const postgres = await startPostgres();
  try {
    for (const figure of await benchFollowups(postgres)) console.log(`${figure.name}: ${figure.value.toFixed(1)} ${figure.unit}`);
  } finally {
    await postgres.stop();
  }
}
