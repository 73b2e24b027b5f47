// Benchmark of a Gmail-API mailbox's latency: from a message's arrival in the local Gmail server's
// mailbox to its row in inbox_messages, p50 and p95 over BENCH_PUSH_MESSAGES (default 100) messages
// arriving one every 200–500 ms (a fixed seed), in two modes, each through its own local server
// (`npm start`'s, cron off) on the same PostgreSQL, as bench/graph-push.ts does for Graph:
// - push: GMAIL_PUBSUB_TOPIC and the push settings set; the inbox sync's upkeep watches the mailbox;
//   on each delivery the bench plays Pub/Sub: it posts Gmail's notification to the push route with
//   an OIDC token signed by the local push sender (whose keys the server is told to trust), and the
//   route makes the mailbox due and syncs it after its answer;
// - polling only: no topic (no watch); the bench pings the sync endpoint every BENCH_POLL_INTERVAL_S
//   seconds (default 10), the mailbox made due just before each ping; the figures at a 60 s ping
//   are computed from the measured sync time (p95 = sync + 0.95 × interval).
// A row's time is its imported_at (PostgreSQL's now()), on the same machine's clock as the arrival.

import { and, eq, inArray } from "drizzle-orm";
import pg from "pg";
import { GMAIL_PUSH_PATH } from "../lib/app/gmail-push-endpoint.js";
import { loadConfig } from "../lib/config.js";
import { openDb } from "../lib/db/client.js";
import { inboxIntegrations, inboxMessages } from "../lib/db/schema.js";
import { SYNC_ALL_PATH } from "../lib/inbox/fan-out.js";
import { startLocalServer } from "../server/local.js";
import { mail } from "../tests/gmail/gmail-kit.js";
import { addGmailMailbox } from "../tests/gmail/push-kit.js";
import { startAuthorizationServer } from "../tests/support/authorization-server.js";
import { TEST_ENCRYPTION_KEY } from "../tests/support/config.js";
import { startGmailServer, type TestGmailServer } from "../tests/support/gmail-server.js";
import { freePort } from "../tests/support/ports.js";
import type { PostgresServer } from "../tests/support/postgres.js";
import { type PushSender, startPushSender } from "../tests/support/push-sender.js";
import type { Figure } from "./figure.js";

const MESSAGES = Number(process.env.BENCH_PUSH_MESSAGES ?? 100);
const POLL_INTERVAL_S = Number(process.env.BENCH_POLL_INTERVAL_S ?? 10);
const CRON_SECRET = "bench-cron-secret-0123456789abcdef0123456789";
const WAIT_FOR_ROWS_MS = Number(process.env.BENCH_PUSH_WAIT_S ?? 120) * 1000;
const TOPIC = "projects/lokario-test/topics/gmail";

type Db = Awaited<ReturnType<typeof openDb>>["db"];

export async function benchGmailPush(postgres: PostgresServer): Promise<Figure[]> {
  const admin = new pg.Client({ connectionString: postgres.url("postgres") });
  await admin.connect();
  await admin.query("create database bench_gmail_push");
  await admin.end();
  const databaseUrl = postgres.url("bench_gmail_push");
  const authorizationServer = await startAuthorizationServer();
  const gmail = await startGmailServer({ authorizationServer });
  const open = await openDb(loadConfig({ DATABASE_URL: databaseUrl, ENCRYPTION_KEY: TEST_ENCRYPTION_KEY }).database);
  const baseEnv = {
    DATABASE_URL: databaseUrl, ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, CRON_SECRET, LOG_LEVEL: "silent",
    ALLOW_PRIVATE_MAIL_HOSTS: "true", GMAIL_API_BASE_URL: gmail.url,
  };
  try {
    // Push first: its server migrates the database.
    const pushPort = await freePort();
    const pushUrl = `http://127.0.0.1:${pushPort}${GMAIL_PUSH_PATH}`;
    const sender = await startPushSender({ audience: pushUrl });
    const pushServer = await startLocalServer({
      env: {
        ...baseEnv, PORT: String(pushPort), GMAIL_PUBSUB_TOPIC: TOPIC, GMAIL_PUSH_AUDIENCE: pushUrl,
        GMAIL_PUSH_SERVICE_ACCOUNT: sender.serviceAccountEmail, GMAIL_PUSH_JWKS_URL: sender.jwksUrl,
      },
      port: pushPort,
      isCronOn: false,
    });
    let push: { latenciesMs: number[]; missing: number; stepMs: number[] };
    try {
      const mailbox = await addGmailMailbox(open.db, authorizationServer);
      await open.db.update(inboxIntegrations).set({ nextSyncAt: null }).where(eq(inboxIntegrations.id, mailbox.integrationId));
      // The schedule's run: watches the mailbox and makes its first sync.
      await ping(pushServer.url);
      if (!gmail.mailbox(mailbox.address).watch) throw new Error("the sync's upkeep made no Gmail watch");
      push = await measure(gmail, open.db, mailbox.integrationId, mailbox.address, async (arrive) => {
        const startedMs = Date.now();
        await arrive();
        await relay(gmail, sender, pushUrl, mailbox.address);
        return Date.now() - startedMs;
      });
      await open.db.update(inboxIntegrations).set({ nextSyncAt: new Date("2099-01-01T00:00:00Z") }).where(eq(inboxIntegrations.id, mailbox.integrationId));
    } finally {
      await pushServer.close();
      await sender.close();
    }

    const pollPort = await freePort();
    const pollServer = await startLocalServer({ env: { ...baseEnv, PORT: String(pollPort) }, port: pollPort, isCronOn: false });
    let poll: { latenciesMs: number[]; missing: number; stepMs: number[] };
    try {
      const mailbox = await addGmailMailbox(open.db, authorizationServer);
      const makeDue = () => open.db.update(inboxIntegrations).set({ nextSyncAt: null }).where(eq(inboxIntegrations.id, mailbox.integrationId));
      await makeDue();
      await ping(pollServer.url);
      const pingMs: number[] = [];
      let isPolling = true;
      const pinger = (async () => {
        let nextMs = Date.now() + Math.random() * POLL_INTERVAL_S * 1000;
        while (isPolling) {
          await sleep(Math.max(0, nextMs - Date.now()));
          if (!isPolling) break;
          nextMs += POLL_INTERVAL_S * 1000;
          const startedMs = Date.now();
          await makeDue();
          await ping(pollServer.url);
          pingMs.push(Date.now() - startedMs);
        }
      })();
      try {
        poll = { ...(await measure(gmail, open.db, mailbox.integrationId, mailbox.address, async (arrive) => (await arrive(), 0))), stepMs: pingMs };
      } finally {
        isPolling = false;
        await pinger;
      }
      if (gmail.mailbox(mailbox.address).watch) throw new Error("the polling mailbox was watched");
    } finally {
      await pollServer.close();
    }

    const syncMs = percentile(poll.stepMs, 50);
    const rows: Array<[string, number, number]> = [
      ["push", percentile(push.latenciesMs, 50), percentile(push.latenciesMs, 95)],
      [`polling, ping every ${POLL_INTERVAL_S} s (measured)`, percentile(poll.latenciesMs, 50), percentile(poll.latenciesMs, 95)],
      ["polling, ping every 60 s (computed)", syncMs + 30_000, syncMs + 0.95 * 60_000],
    ];
    if (push.missing || poll.missing) console.error(`gmail push: NOT STORED ${WAIT_FOR_ROWS_MS / 1000} s after the last arrival: ${push.missing} with push, ${poll.missing} with polling`);
    console.error(`gmail push: ${MESSAGES} messages, one every 200–500 ms; arrival → push answered: p50 ${percentile(push.stepMs, 50).toFixed(0)} ms, p95 ${percentile(push.stepMs, 95).toFixed(0)} ms; a ping's sync ${syncMs.toFixed(0)} ms`);
    for (const [mode, p50, p95] of rows) console.error(`${mode.padEnd(40)}${`${(p50 / 1000).toFixed(2)} s`.padStart(10)}${`${(p95 / 1000).toFixed(2)} s`.padStart(10)}`);
    return [
      { name: "Gmail arrival → row, push, p50", value: rows[0]![1], unit: "ms", isHigherBetter: false },
      { name: "Gmail arrival → row, push, p95 (goal ≤ 5000 ms)", value: rows[0]![2], unit: "ms", isHigherBetter: false },
      { name: `Gmail arrival → row, push, messages without a row ${WAIT_FOR_ROWS_MS / 1000} s after the last arrival`, value: push.missing, unit: "", isHigherBetter: false },
      { name: `Gmail arrival → row, polling every ${POLL_INTERVAL_S} s, p50`, value: rows[1]![1], unit: "ms", isHigherBetter: false },
      { name: `Gmail arrival → row, polling every ${POLL_INTERVAL_S} s, p95`, value: rows[1]![2], unit: "ms", isHigherBetter: false },
      { name: "Gmail arrival → row, polling every 60 s (computed), p95", value: rows[2]![2], unit: "ms", isHigherBetter: false },
    ];
  } finally {
    await open.close();
    await gmail.close();
    await authorizationServer.stop();
  }
}

/** Plays Pub/Sub: posts Gmail's latest notification for `address` to the push route, signed. */
async function relay(gmail: TestGmailServer, sender: PushSender, pushUrl: string, address: string): Promise<void> {
  const notification = gmail.notifications.filter((n) => n.emailAddress === address.toLowerCase()).at(-1);
  if (!notification) throw new Error("Gmail published no notification for the delivery");
  const response = await fetch(pushUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await sender.token()}` },
    body: sender.envelope({ emailAddress: notification.emailAddress, historyId: notification.historyId }),
  });
  if (response.status !== 204) throw new Error(`gmail push: HTTP ${response.status}`);
  await response.arrayBuffer();
}

/** Delivers MESSAGES messages to `address`'s INBOX at their planned times, waits for every row, returns each latency. */
async function measure(
  gmail: TestGmailServer, db: Db, integrationId: number, address: string, deliver: (arrive: () => Promise<void>) => Promise<number>,
): Promise<{ latenciesMs: number[]; missing: number; stepMs: number[] }> {
  const random = seeded(20);
  const arrivals = new Map<string, number>();
  const steps: Promise<number>[] = [];
  let atMs = Date.now();
  for (let i = 0; i < MESSAGES; i++) {
    atMs += 200 + random() * 300;
    await sleep(Math.max(0, atMs - Date.now()));
    const raw = mail({ from: `client${i}@example.com`, to: address, subject: `Demande ${i}` });
    steps.push(deliver(async () => {
      const arrivedMs = Date.now();
      const message = gmail.deliver(address, raw, { labelIds: ["INBOX", "UNREAD"], internalDate: new Date(arrivedMs) });
      arrivals.set(message.id, arrivedMs);
    }));
  }
  const stepMs = await Promise.all(steps);
  const ids = [...arrivals.keys()];
  const deadline = Date.now() + WAIT_FOR_ROWS_MS;
  let rows: Array<{ sourceMessageId: string | null; importedAt: Date }> = [];
  for (;;) {
    rows = await db.select({ sourceMessageId: inboxMessages.sourceMessageId, importedAt: inboxMessages.importedAt }).from(inboxMessages)
      .where(and(eq(inboxMessages.integrationId, integrationId), inArray(inboxMessages.sourceMessageId, ids)));
    if (rows.length === ids.length || Date.now() > deadline) break;
    await sleep(250);
  }
  return { latenciesMs: rows.map((row) => row.importedAt.getTime() - arrivals.get(row.sourceMessageId!)!), missing: ids.length - rows.length, stepMs };
}

async function ping(baseUrl: string): Promise<void> {
  const response = await fetch(`${baseUrl}${SYNC_ALL_PATH}`, { method: "POST", headers: { authorization: `Bearer ${CRON_SECRET}` } });
  if (!response.ok) throw new Error(`sync ping: HTTP ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
}

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A small seeded generator (mulberry32), so every run draws the same arrival pattern. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
