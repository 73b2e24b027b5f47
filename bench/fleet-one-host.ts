// Benchmark of one company's mailboxes on one IMAP host (BENCH_ONE_HOST_MAILBOXES, default 200) with
// 50 ms of round-trip time (a TCP proxy on 127.0.0.7 in front of Dovecot): the idle sweep with the
// per-host bound learned from a cold start (nothing stored for the host) and from a warm one (the
// bound the cold sweep stored), beside the floor of plain logins 20 at once and 5 at once (the
// fixed per-host bound this replaces).

import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { count, eq } from "drizzle-orm";
import { ImapFlow } from "imapflow";
import pg from "pg";
import { loadConfig } from "../lib/config.js";
import { encryptSecret } from "../lib/crypto/secret-box.js";
import { openDb } from "../lib/db/client.js";
import { migrateDb } from "../lib/db/migrate.js";
import { companies, imapHostConcurrency, inboxIntegrations, inboxMessages } from "../lib/db/schema.js";
import { syncAllJob } from "../lib/inbox/sync-all.js";
import { runJob } from "../lib/jobs/run-job.js";
import { createLogger } from "../lib/log.js";
import type { DovecotServer } from "../tests/support/dovecot.js";
import { startFaultProxy } from "../tests/support/fault-proxy.js";
import type { PostgresServer } from "../tests/support/postgres.js";
import type { Figure } from "./figure.js";

const MAILBOXES = Number(process.env.BENCH_ONE_HOST_MAILBOXES ?? 200);
const HOST = "127.0.0.7";
const REMOTE_RTT_MS = 50;
const ENCRYPTION_KEY = Buffer.alloc(32, 5).toString("base64");

/** Runs the one-host sweep on an already started Dovecot and PostgreSQL; returns its figures. */
export async function benchOneHostFleet(dovecot: DovecotServer, postgres: PostgresServer, mailMaker: (i: number) => string): Promise<Figure[]> {
  const admin = new pg.Client({ connectionString: postgres.url("postgres") });
  await admin.connect();
  await admin.query("create database bench_one_host");
  await admin.end();
  const proxy = await startFaultProxy(dovecot.port, { host: HOST, latencyMs: REMOTE_RTT_MS });
  const config = loadConfig({
    DATABASE_URL: postgres.url("bench_one_host"), ENCRYPTION_KEY, LOG_LEVEL: "silent", RUN_BUDGET_MS: "25000",
    ATTACHMENTS_DIR: join(dovecot.dir, "attachments"), NODE_ENV: "test", ALLOW_PRIVATE_MAIL_HOSTS: "true",
  });
  const open = await openDb(config.database);
  try {
    await migrateDb(open.db);
    const log = createLogger("bench", { level: "silent" });
    const users = Array.from({ length: MAILBOXES }, (_, i) => ({ user: `onehost${i}@example.test`, password: `onehost-pw-${i}` }));
    appendFileSync(join(dovecot.dir, "users"), users.map((m) => `${m.user}:{PLAIN}${m.password}\n`).join(""));
    for (const [i, m] of users.entries()) {
      const maildir = join(dovecot.dir, "mail", m.user);
      for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
      writeFileSync(join(maildir, "new", `${1_950_000_000 + i}.h${i}.bench`), mailMaker(i));
    }
    execFileSync("chown", ["-R", "nobody:nogroup", join(dovecot.dir, "mail")]);
    const [company] = await open.db.insert(companies).values({ name: "One host" }).returning();
    await open.db.insert(inboxIntegrations).values(users.map((m) => ({
      companyId: company!.id, name: m.user, imapServer: HOST, imapPort: proxy.port, useSsl: false, tlsRejectUnauthorized: false,
      emailAddress: m.user, emailPassword: encryptSecret(m.password, { encryptionKey: ENCRYPTION_KEY }), initialSyncDays: 36500,
    })));
    const ping = () => runJob(syncAllJob, {}, { config, log, trigger: "cli" });
    const sweep = async () => {
      await open.db.update(inboxIntegrations).set({ nextSyncAt: new Date(Date.now() - 60_000) });
      const started = performance.now();
      let pings = 0;
      for (;;) {
        pings++;
        if (!(await ping()).remaining) break;
      }
      const seconds = (performance.now() - started) / 1000;
      const bound = (await open.db.select().from(imapHostConcurrency).where(eq(imapHostConcurrency.hostKey, HOST)))[0]?.sessionBound;
      console.error(`one-host sweep: ${pings} ping(s), ${seconds.toFixed(1)} s, bound now ${bound}`);
      return seconds;
    };

    // First sync of every mailbox (setup, not measured): the cursors exist afterwards.
    await sweep();
    const imported = (await open.db.select({ n: count() }).from(inboxMessages))[0]!.n;
    if (imported !== MAILBOXES) throw new Error(`first sync imported ${imported} of ${MAILBOXES} messages`);

    await open.db.delete(imapHostConcurrency);
    const cold = await sweep();
    const warm = await sweep();
    const floor20 = await plainLogins(users, proxy.port, 20);
    const floor5 = await plainLogins(users, proxy.port, 5);
    const label = `${MAILBOXES} mailboxes on 1 host, ${REMOTE_RTT_MS} ms RTT`;
    return [
      { name: `idle sweep, ${label}, learned bound from cold`, value: MAILBOXES / cold, unit: "mailbox/s", isHigherBetter: true },
      { name: `idle sweep, ${label}, learned bound from the stored one`, value: MAILBOXES / warm, unit: "mailbox/s", isHigherBetter: true },
      { name: `plain logins 20 at once, ${label}`, value: MAILBOXES / floor20, unit: "login/s", isHigherBetter: true },
      { name: `plain logins 5 at once, ${label}`, value: MAILBOXES / floor5, unit: "login/s", isHigherBetter: true },
      { name: `idle sweep from the stored bound / 20-way login floor (goal ≥ 0.8)`, value: floor20 / warm, unit: "×", isHigherBetter: true },
    ];
  } finally {
    await open.close();
    await proxy.close();
  }
}

/** Seconds for every mailbox to connect, STARTTLS, log in and out, `concurrency` at once. */
async function plainLogins(users: Array<{ user: string; password: string }>, port: number, concurrency: number): Promise<number> {
  const queue = [...users];
  const started = performance.now();
  const worker = async () => {
    for (let m = queue.shift(); m; m = queue.shift()) {
      const client = new ImapFlow({
        host: HOST, port, secure: false, doSTARTTLS: true, tls: { rejectUnauthorized: false },
        auth: { user: m.user, pass: m.password }, logger: false, disableAutoIdle: true,
      });
      await client.connect();
      await client.logout();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return (performance.now() - started) / 1000;
}
