// The product's side of the first-import benchmark, alone in its process: sync runs until nothing
// is left, then one JSON line on stdout with the time, the messages stored, the peak RSS and the
// malloc arena cap it started with.

import { readFileSync } from "node:fs";
import { loadConfig } from "../lib/config.js";
import { openDb } from "../lib/db/client.js";
import { inboxIntegrations, inboxMessages } from "../lib/db/schema.js";
import { syncAllJob } from "../lib/inbox/sync-all.js";
import { runJob } from "../lib/jobs/run-job.js";
import { createLogger } from "../lib/log.js";
import { mallocArenaMaxAtStart } from "../lib/ops/malloc-arenas.js";
import type { ChildReport } from "./first-import.js";

const config = loadConfig(process.env);
const log = createLogger("bench", { level: "silent" });
const open = await openDb(config.database);
const started = performance.now();
let runs = 0;
for (;;) {
  runs++;
  const summary = await runJob(syncAllJob, {}, { config, log, trigger: "cli" });
  if (!summary.remaining) break;
  // A run cut by its budget leaves the mailbox due again later: the next run takes it now.
  await open.db.update(inboxIntegrations).set({ nextSyncAt: null });
}
const ms = performance.now() - started;
const imported = (await open.db.$count(inboxMessages));
await open.close();
const report: ChildReport = { ms, runs, imported, peakRssBytes: peakRss(), mallocArenaMax: mallocArenaMaxAtStart() };
console.log(JSON.stringify(report));

/** The process's high-water mark of resident memory (VmHWM), in bytes. */
function peakRss(): number {
  const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
  return match ? Number(match[1]) * 1024 : process.memoryUsage().rss;
}
