// Benchmark of a Microsoft Graph mailbox's latency: from a message's arrival in the mailbox of the
// local Graph server to its row in inbox_messages, p50 and p95 over BENCH_PUSH_MESSAGES (default
// 100) messages arriving one every 200–500 ms (uniformly drawn, a fixed seed; BENCH_PUSH_PATTERN=bursts:
// 2–5 messages 20–80 ms apart, a burst every 1–3 s), in two modes in
// one run, each through its own local server (`npm start`'s, cron off) on the same PostgreSQL:
// - push: PUBLIC_BASE_URL names the server, the inbox sync's upkeep subscribes the mailbox, the
//   Graph server POSTs a change notification on each delivery, the route makes the mailbox due and
//   syncs it after its answer;
// - polling only: no PUBLIC_BASE_URL (no subscription); the bench pings the sync endpoint over HTTP
//   every BENCH_POLL_INTERVAL_S seconds (default 10), the mailbox made due just before each ping
//   (the product's shortest sync interval is 1 minute, so without that a 10 s ping would sync it
//   once a minute). The expected figures at a 60 s ping (cron-job.org's shortest) and at 5 minutes
//   are computed from the sync time the pings measured: p50 = sync + interval/2, p95 = sync +
//   0.95 × interval (an arrival uniformly placed between two pings).
// A row's time is its imported_at (PostgreSQL's now(): the start of its insert's transaction, a few
// ms before the commit), on the same machine's clock as the arrival's Date.now().

import { and, eq, inArray } from "drizzle-orm";
import pg from "pg";
import { loadConfig } from "../lib/config.js";
import { openDb } from "../lib/db/client.js";
import { inboxIntegrations, inboxMessages, jobRuns } from "../lib/db/schema.js";
import { SYNC_ALL_PATH } from "../lib/inbox/fan-out.js";
import { startLocalServer } from "../server/local.js";
import { addGraphMailbox } from "../tests/graph/push-kit.js";
import { rawMessage } from "../tests/graph/graph-harness.js";
import { startAuthorizationServer } from "../tests/support/authorization-server.js";
import { TEST_ENCRYPTION_KEY } from "../tests/support/config.js";
import { startGraphServer, type TestGraphServer } from "../tests/support/graph-server.js";
import { freePort } from "../tests/support/ports.js";
import type { PostgresServer } from "../tests/support/postgres.js";
import type { Figure } from "./figure.js";

const MESSAGES = Number(process.env.BENCH_PUSH_MESSAGES ?? 100);
const POLL_INTERVAL_S = Number(process.env.BENCH_POLL_INTERVAL_S ?? 10);
const CRON_SECRET = "bench-cron-secret-0123456789abcdef0123456789";
/** After the last arrival, how long the bench waits for the rows (a message still missing then waits for a poll). */
const WAIT_FOR_ROWS_MS = Number(process.env.BENCH_PUSH_WAIT_S ?? 120) * 1000;
/** "spaced": one message every 200–500 ms; "bursts": 2–5 messages 20–80 ms apart, a burst every 1–3 s. */
const PATTERN = process.env.BENCH_PUSH_PATTERN === "bursts" ? "bursts" : "spaced";

interface ModeResult {
  latenciesMs: number[];
  /** Messages still without a row WAIT_FOR_ROWS_MS after the last arrival. */
  missing: number;
  /** Push: arrival → the notification answered (the mailbox due). Poll: each ping's duration. */
  stepMs: number[];
}

export async function benchGraphPush(postgres: PostgresServer): Promise<Figure[]> {
  const admin = new pg.Client({ connectionString: postgres.url("postgres") });
  await admin.connect();
  await admin.query("create database bench_graph_push");
  await admin.end();
  const databaseUrl = postgres.url("bench_graph_push");
  const authorizationServer = await startAuthorizationServer();
  const graph = await startGraphServer({ authorizationServer });
  const open = await openDb(loadConfig({ DATABASE_URL: databaseUrl, ENCRYPTION_KEY: TEST_ENCRYPTION_KEY }).database);
  const baseEnv = {
    DATABASE_URL: databaseUrl, ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, CRON_SECRET, LOG_LEVEL: "silent",
    ALLOW_PRIVATE_MAIL_HOSTS: "true", MICROSOFT_GRAPH_BASE_URL: graph.baseUrl,
  };
  try {
    // Push first: its server migrates the database.
    const pushPort = await freePort();
    const pushServer = await startLocalServer({ env: { ...baseEnv, PORT: String(pushPort), PUBLIC_BASE_URL: `http://127.0.0.1:${pushPort}` }, port: pushPort, isCronOn: false });
    let push: ModeResult & { breakdown: string };
    try {
      const mailbox = await addGraphMailbox(open.db, graph, authorizationServer);
      await open.db.update(inboxIntegrations).set({ nextSyncAt: null }).where(eq(inboxIntegrations.id, mailbox.integrationId));
      // The schedule's run: subscribes the mailbox (Graph validates the URL) and makes its first sync.
      await ping(pushServer.url);
      if (!graph.subscriptions.size) throw new Error("the sync's upkeep made no Graph subscription");
      const runsBefore = new Date();
      const result = await measure(graph, open.db, mailbox.integrationId, mailbox.address, async (arrive) => {
        const startedMs = Date.now();
        await arrive();
        return Date.now() - startedMs;
      });
      push = { ...result, breakdown: await pushBreakdown(open.db, runsBefore) };
      // Out of the way of the polling server's pings.
      await open.db.update(inboxIntegrations).set({ nextSyncAt: new Date("2099-01-01T00:00:00Z") }).where(eq(inboxIntegrations.id, mailbox.integrationId));
    } finally {
      await pushServer.close();
    }

    const pollPort = await freePort();
    const pollServer = await startLocalServer({ env: { ...baseEnv, PORT: String(pollPort) }, port: pollPort, isCronOn: false });
    let poll: ModeResult;
    try {
      const mailbox = await addGraphMailbox(open.db, graph, authorizationServer);
      const makeDue = () => open.db.update(inboxIntegrations).set({ nextSyncAt: null }).where(eq(inboxIntegrations.id, mailbox.integrationId));
      await makeDue();
      await ping(pollServer.url);
      const pingMs: number[] = [];
      let isPolling = true;
      // Pings at a fixed rate from the first arrival on, as a cron does, until every row is in.
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
        const result = await measure(graph, open.db, mailbox.integrationId, mailbox.address, async (arrive) => {
          await arrive();
          return 0;
        });
        poll = { ...result, stepMs: pingMs };
      } finally {
        isPolling = false;
        await pinger;
      }
      if ([...graph.subscriptions.values()].some((s) => s.mailbox === mailbox.address)) throw new Error("the polling mailbox was subscribed");
    } finally {
      await pollServer.close();
    }

    const syncMs = percentile(poll.stepMs, 50);
    const rows: Array<[string, number, number]> = [
      ["push", percentile(push.latenciesMs, 50), percentile(push.latenciesMs, 95)],
      [`polling, ping every ${POLL_INTERVAL_S} s (measured)`, percentile(poll.latenciesMs, 50), percentile(poll.latenciesMs, 95)],
      ["polling, ping every 60 s (computed)", syncMs + 30_000, syncMs + 0.95 * 60_000],
      ["polling, ping every 5 min (computed)", syncMs + 150_000, syncMs + 0.95 * 300_000],
    ];
    const pattern = PATTERN === "spaced" ? "one every 200–500 ms" : "in bursts of 2–5 messages 20–80 ms apart, a burst every 1–3 s";
    if (push.missing || poll.missing) console.error(`graph push: NOT STORED ${WAIT_FOR_ROWS_MS / 1000} s after the last arrival: ${push.missing} with push, ${poll.missing} with polling (their latency is left out of the percentiles)`);
    console.error(`graph push: ${MESSAGES} messages, ${pattern}; a ping's sync took ${syncMs.toFixed(0)} ms (median of ${poll.stepMs.length})`);
    console.error(`graph push: arrival → notification answered (mailbox due): p50 ${percentile(push.stepMs, 50).toFixed(0)} ms, p95 ${percentile(push.stepMs, 95).toFixed(0)} ms`);
    console.error(`graph push: ${push.breakdown}`);
    console.error(["mode".padEnd(40), "p50".padStart(10), "p95".padStart(10), "p50 ÷ push".padStart(12), "p95 ÷ push".padStart(12)].join(""));
    for (const [mode, p50, p95] of rows) {
      console.error([mode.padEnd(40), seconds(p50).padStart(10), seconds(p95).padStart(10), `${(p50 / rows[0]![1]).toFixed(0)}×`.padStart(12), `${(p95 / rows[0]![2]).toFixed(0)}×`.padStart(12)].join(""));
    }
    const name = (what: string) => `Graph arrival → row${PATTERN === "bursts" ? " (bursts)" : ""}, ${what}`;
    return [
      { name: name("push, p50"), value: rows[0]![1], unit: "ms", isHigherBetter: false },
      { name: name("push, p95 (goal ≤ 5000 ms)"), value: rows[0]![2], unit: "ms", isHigherBetter: false },
      { name: name(`push, messages without a row ${WAIT_FOR_ROWS_MS / 1000} s after the last arrival`), value: push.missing, unit: "", isHigherBetter: false },
      { name: name(`polling every ${POLL_INTERVAL_S} s, p50`), value: rows[1]![1], unit: "ms", isHigherBetter: false },
      { name: name(`polling every ${POLL_INTERVAL_S} s, p95`), value: rows[1]![2], unit: "ms", isHigherBetter: false },
      { name: name("polling every 60 s (computed), p95"), value: rows[2]![2], unit: "ms", isHigherBetter: false },
      { name: name("polling every 5 min (computed), p95"), value: rows[3]![2], unit: "ms", isHigherBetter: false },
      { name: name(`p95, polling every ${POLL_INTERVAL_S} s ÷ push`), value: rows[1]![2] / rows[0]![2], unit: "×", isHigherBetter: true },
      { name: name("p95, polling every 60 s ÷ push"), value: rows[2]![2] / rows[0]![2], unit: "×", isHigherBetter: true },
    ];
  } finally {
    await open.close();
    await graph.close();
    await authorizationServer.stop();
  }
}

/**
 * Delivers MESSAGES messages to `address`'s inbox at their planned times (whatever `deliver` waits
 * for, the next one arrives on time), waits for every row and returns each arrival → row latency.
 */
async function measure(
  graph: TestGraphServer,
  db: Awaited<ReturnType<typeof openDb>>["db"],
  integrationId: number,
  address: string,
  deliver: (arrive: () => Promise<unknown>) => Promise<number>,
): Promise<ModeResult> {
  const random = seeded(20);
  const arrivals = new Map<string, number>();
  const steps: Promise<number>[] = [];
  let atMs = Date.now();
  let burstLeft = 0;
  for (let i = 0; i < MESSAGES; i++) {
    if (PATTERN === "spaced") atMs += 200 + random() * 300;
    else if (burstLeft-- > 0) atMs += 20 + random() * 60;
    else {
      atMs += 1000 + random() * 2000;
      burstLeft = 1 + Math.floor(random() * 4);
    }
    await sleep(Math.max(0, atMs - Date.now()));
    const mime = rawMessage({ from: `client${i}@example.com`, to: address, subject: `Demande ${i}`, messageId: `<bench-${i}-${integrationId}@example.com>`, date: new Date() });
    let arrivedMs = 0;
    steps.push(deliver(async () => {
      arrivedMs = Date.now();
      const id = await graph.deliver(address, "inbox", mime);
      arrivals.set(id, arrivedMs);
    }));
  }
  const stepMs = await Promise.all(steps);
  const ids = [...arrivals.keys()];
  const deadline = Date.now() + WAIT_FOR_ROWS_MS;
  let rows: Array<{ sourceMessageId: string | null; importedAt: Date }> = [];
  for (;;) {
    rows = await db.select({ sourceMessageId: inboxMessages.sourceMessageId, importedAt: inboxMessages.importedAt }).from(inboxMessages)
      .where(and(eq(inboxMessages.integrationId, integrationId), inArray(inboxMessages.sourceMessageId, ids)));
    if (rows.length === ids.length) break;
    if (Date.now() > deadline) break;
    await sleep(250);
  }
  return { latenciesMs: rows.map((row) => row.importedAt.getTime() - arrivals.get(row.sourceMessageId!)!), missing: ids.length - rows.length, stepMs };
}

/** Where the push runs' time went: how many ran, how long each took, how many stored nothing. */
async function pushBreakdown(db: Awaited<ReturnType<typeof openDb>>["db"], since: Date): Promise<string> {
  const runs = (await db.select().from(jobRuns).where(eq(jobRuns.trigger, "push"))).filter((run) => run.startedAt >= since && run.finishedAt);
  const durations = runs.map((run) => run.finishedAt!.getTime() - run.startedAt.getTime());
  const summaries = runs.map((run) => run.summary as { integrations?: { attempted?: number }; messagesImported?: number });
  const passedOver = summaries.filter((s) => !s.integrations?.attempted).length;
  return `${runs.length} push runs (one per notification, and again after a sync during which a notice came), ${passedOver} passed over the mailbox (held by another); run p50 ${percentile(durations, 50).toFixed(0)} ms, p95 ${percentile(durations, 95).toFixed(0)} ms`;
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

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
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
