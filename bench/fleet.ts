// Benchmark of the inbox sync over a fleet of mailboxes (BENCH_MAILBOXES, default 500) spread over
// five IMAP "hosts" (loopback addresses 127.0.0.2–6, each a TCP proxy in front of one Dovecot):
// - the idle sweep (every mailbox due, nothing new), on loopback and with 50 ms of round-trip time
//   added by the proxies (a remote provider), beside the floor of plain logins at the same concurrency;
// - an incremental sync of 5 new messages in every mailbox;
// - the same remote idle sweep through a local server whose ping fans out, against one without.

import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { count, sql } from "drizzle-orm";
import { ImapFlow } from "imapflow";
import pg from "pg";
import { loadConfig } from "../lib/config.js";
import { encryptSecret } from "../lib/crypto/secret-box.js";
import { openDb } from "../lib/db/client.js";
import { migrateDb } from "../lib/db/migrate.js";
import { companies, inboxIntegrations, inboxMessages } from "../lib/db/schema.js";
import { syncAllJob } from "../lib/inbox/sync-all.js";
import { runJob } from "../lib/jobs/run-job.js";
import { createLogger } from "../lib/log.js";
import { startLocalServer } from "../server/local.js";
import type { DovecotServer } from "../tests/support/dovecot.js";
import { type FaultProxy, startFaultProxy } from "../tests/support/fault-proxy.js";
import { freePort } from "../tests/support/ports.js";
import type { PostgresServer } from "../tests/support/postgres.js";
import type { Figure } from "./figure.js";

const MAILBOXES = Number(process.env.BENCH_MAILBOXES ?? 500);
const HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"];
const REMOTE_RTT_MS = 50;
const NEW_PER_MAILBOX = 5;
const ENCRYPTION_KEY = Buffer.alloc(32, 5).toString("base64");
const CRON_SECRET = "bench-cron-secret-0123456789abcdef0123456789";
/** The defaults of SYNC_CONCURRENCY / SYNC_CONCURRENCY_PER_HOST, for the plain-login floor. */
const CONCURRENCY = 24;
const PER_HOST = 5;

interface Mailbox {
  user: string;
  password: string;
  host: string;
}

/** Runs the fleet benchmarks on an already started Dovecot and PostgreSQL; returns their figures. */
export async function benchFleet(dovecot: DovecotServer, postgres: PostgresServer, mailMaker: (i: number) => string): Promise<Figure[]> {
  const admin = new pg.Client({ connectionString: postgres.url("postgres") });
  await admin.connect();
  await admin.query("create database bench_fleet");
  await admin.end();
  const local = await Promise.all(HOSTS.map((host) => startFaultProxy(dovecot.port, { host })));
  const remote = await Promise.all(HOSTS.map((host) => startFaultProxy(dovecot.port, { host, latencyMs: REMOTE_RTT_MS })));
  const figures: Figure[] = [];
  const env = {
    DATABASE_URL: postgres.url("bench_fleet"), ENCRYPTION_KEY, LOG_LEVEL: "silent", RUN_BUDGET_MS: "25000",
    ATTACHMENTS_DIR: join(dovecot.dir, "attachments"), CRON_SECRET, NODE_ENV: "test",
    // The bench's Dovecot and its proxies listen on loopback addresses.
    ALLOW_PRIVATE_MAIL_HOSTS: "true",
  };
  const config = loadConfig(env);
  const open = await openDb(config.database);
  try {
    await migrateDb(open.db);
    const log = createLogger("bench", { level: "silent" });
    const mailboxes = createUsers(dovecot, mailMaker);
    const [company] = await open.db.insert(companies).values({ name: "Fleet" }).returning();
    for (let i = 0; i < mailboxes.length; i += 100) {
      await open.db.insert(inboxIntegrations).values(mailboxes.slice(i, i + 100).map((m) => ({
        companyId: company!.id, name: m.user, imapServer: m.host, imapPort: local[HOSTS.indexOf(m.host)]!.port, useSsl: false,
        tlsRejectUnauthorized: false, emailAddress: m.user, emailPassword: encryptSecret(m.password, { encryptionKey: ENCRYPTION_KEY }),
        initialSyncDays: 36500,
      })));
    }
    const usePorts = async (proxies: FaultProxy[]) => {
      for (const [i, host] of HOSTS.entries()) {
        await open.db.update(inboxIntegrations).set({ imapPort: proxies[i]!.port }).where(sql`${inboxIntegrations.imapServer} = ${host}`);
      }
    };
    const makeAllDue = () => open.db.update(inboxIntegrations).set({ nextSyncAt: new Date(Date.now() - 60_000) });
    const ping = () => runJob(syncAllJob, {}, { config, log, trigger: "cli" });
    /** Pings until nothing is left; returns the seconds it took and the mailboxes the first ping synced. */
    const sweep = async (pingOnce: () => Promise<{ remaining: boolean; integrations: { attempted: number } }>) => {
      await makeAllDue();
      const started = performance.now();
      let firstPing = -1;
      let pings = 0;
      for (;;) {
        pings++;
        const summary = await pingOnce();
        if (firstPing < 0) firstPing = summary.integrations.attempted;
        if (!summary.remaining) break;
      }
      const seconds = (performance.now() - started) / 1000;
      console.error(`fleet sweep: ${pings} ping(s), ${seconds.toFixed(1)} s`);
      return { seconds, firstPing };
    };

    // First sync of every mailbox (setup, not measured): the cursors exist afterwards.
    await sweep(ping);
    const imported = (await open.db.select({ n: count() }).from(inboxMessages))[0]!.n;
    if (imported !== MAILBOXES) throw new Error(`first sync imported ${imported} of ${MAILBOXES} messages`);

    for (const [label, proxies] of [["loopback", local], [`${REMOTE_RTT_MS} ms RTT`, remote]] as const) {
      await usePorts(proxies);
      const idle = await sweep(ping);
      const floorSeconds = await plainLogins(mailboxes, proxies);
      figures.push(
        { name: `idle sweep, ${MAILBOXES} mailboxes on 5 hosts, ${label}`, value: MAILBOXES / idle.seconds, unit: "mailbox/s", isHigherBetter: true },
        { name: `idle sweep, ${MAILBOXES} mailboxes, ${label}: mailboxes per ping`, value: idle.firstPing, unit: "mailboxes", isHigherBetter: true },
        { name: `plain logins (${CONCURRENCY} at once, ${PER_HOST} per host), ${label}`, value: MAILBOXES / floorSeconds, unit: "login/s", isHigherBetter: true },
      );
    }

    await usePorts(local);
    for (const [i, m] of mailboxes.entries()) {
      for (let k = 0; k < NEW_PER_MAILBOX; k++) deliver(dovecot, m.user, `${2_000_000_000 + k}.f${i}n${k}.bench`, mailMaker(MAILBOXES + i * NEW_PER_MAILBOX + k));
    }
    execFileSync("chown", ["-R", "nobody:nogroup", join(dovecot.dir, "mail")]);
    const incremental = await sweep(ping);
    const total = (await open.db.select({ n: count() }).from(inboxMessages))[0]!.n;
    if (total !== MAILBOXES * (1 + NEW_PER_MAILBOX)) throw new Error(`incremental sync left ${total} of ${MAILBOXES * (1 + NEW_PER_MAILBOX)} messages`);
    figures.push({
      name: `incremental sync, ${MAILBOXES} mailboxes × ${NEW_PER_MAILBOX} new, loopback`,
      value: (MAILBOXES * NEW_PER_MAILBOX) / incremental.seconds, unit: "msg/s", isHigherBetter: true,
    });

    await usePorts(remote);
    const single = await sweep(() => pingServer(env, {}));
    const fanned = await sweep(() => pingServer(env, { FANOUT_MAX_INVOCATIONS: "3", FANOUT_MAILBOXES_PER_INVOCATION: String(Math.ceil(MAILBOXES / 4)) }));
    figures.push({
      name: `fan-out to 4 invocations, idle sweep, ${REMOTE_RTT_MS} ms RTT: speed-up over one`,
      value: single.seconds / fanned.seconds, unit: "×", isHigherBetter: true,
    });
  } finally {
    await open.close();
    await Promise.all([...local, ...remote].map((p) => p.close()));
  }
  return figures;
}

/** Adds the fleet's users to Dovecot, each with one message already delivered. */
function createUsers(dovecot: DovecotServer, mailMaker: (i: number) => string): Mailbox[] {
  const mailboxes = Array.from({ length: MAILBOXES }, (_, i) => ({ user: `fleet${i}@example.test`, password: `fleet-pw-${i}`, host: HOSTS[i % HOSTS.length]! }));
  appendFileSync(join(dovecot.dir, "users"), mailboxes.map((m) => `${m.user}:{PLAIN}${m.password}\n`).join(""));
  for (const [i, m] of mailboxes.entries()) deliver(dovecot, m.user, `${1_900_000_000 + i}.f${i}.bench`, mailMaker(i));
  execFileSync("chown", ["-R", "nobody:nogroup", join(dovecot.dir, "mail")]);
  return mailboxes;
}

function deliver(dovecot: DovecotServer, user: string, name: string, raw: string): void {
  const maildir = join(dovecot.dir, "mail", user);
  for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
  writeFileSync(join(maildir, "new", name), raw);
}

/** One ping through a local server (HTTP, as a platform's cron would), with `extra` settings. */
async function pingServer(env: Record<string, string>, extra: Record<string, string>): Promise<{ remaining: boolean; integrations: { attempted: number } }> {
  const port = await freePort();
  const server = await startLocalServer({ env: { ...env, ...extra, FANOUT_BASE_URL: `http://127.0.0.1:${port}` }, port, isCronOn: false });
  try {
    const response = await fetch(`${server.url}/api/inbox/integrations/sync-all`, { method: "POST", headers: { authorization: `Bearer ${CRON_SECRET}` } });
    const answer = (await response.json()) as { remaining: boolean; integrations: { attempted: number }; fanout?: { integrations: { attempted: number } } };
    return { remaining: answer.remaining, integrations: { attempted: answer.integrations.attempted + (answer.fanout?.integrations.attempted ?? 0) } };
  } finally {
    await server.close();
  }
}

/** Seconds for every mailbox to connect, STARTTLS, log in and out, at the sync's concurrency: the floor of a sweep. */
async function plainLogins(mailboxes: Mailbox[], proxies: FaultProxy[]): Promise<number> {
  const queue = [...mailboxes];
  const perHost = new Map<string, number>();
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const index = queue.findIndex((m) => (perHost.get(m.host) ?? 0) < PER_HOST);
      if (index < 0) {
        if (queue.length === 0) return;
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const m = queue.splice(index, 1)[0]!;
      perHost.set(m.host, (perHost.get(m.host) ?? 0) + 1);
      const client = new ImapFlow({
        host: m.host, port: proxies[HOSTS.indexOf(m.host)]!.port, secure: false, doSTARTTLS: true, tls: { rejectUnauthorized: false },
        auth: { user: m.user, pass: m.password }, logger: false, disableAutoIdle: true,
      });
      await client.connect();
      await client.logout();
      perHost.set(m.host, perHost.get(m.host)! - 1);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return (performance.now() - started) / 1000;
}
