// Downloaded mail lives in Buffers, whose memory V8 gives back only when it collects their small
// JavaScript objects, and V8 starts a full collection for that (external) memory only once it has
// grown by 64 MB since the last one. An import that holds a few MB of live mail would then sit
// tens of MB above what it needs, which a serverless function's fixed memory pays for. After each
// message parsed (its attachments stored), once external memory has grown by RELEASE_AFTER_BYTES
// since the last collection asked here, the import asks V8 for a full one (about 10 ms for this
// process's heap), at most every MIN_INTERVAL_MS, so that many mailboxes synced at once cannot
// make it run all the time.

import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const RELEASE_AFTER_BYTES = 8 * 1024 * 1024;
const MIN_INTERVAL_MS = 200;

let collect: (() => void) | null | undefined;
let externalAfterLast = 0;
let lastAt = 0;

/** Asks for a full collection when downloaded memory has piled up; true when it did. */
export function releaseDownloadedMemory(): boolean {
  const external = getHeapStatistics().external_memory;
  if (external < externalAfterLast + RELEASE_AFTER_BYTES || performance.now() - lastAt < MIN_INTERVAL_MS) return false;
  collect ??= collector();
  if (!collect) return false;
  collect();
  externalAfterLast = getHeapStatistics().external_memory;
  lastAt = performance.now();
  return true;
}

/**
 * V8's collection function: the one `--expose-gc` puts on the global object when Node was started
 * with it, else the one a new context gets once the flag is set (the running context is left as
 * it is). Null if neither is available: memory is then left to V8's own schedule.
 */
function collector(): (() => void) | null {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === "function") return existing as () => void;
  try {
    setFlagsFromString("--expose-gc");
    const gc: unknown = runInNewContext("gc");
    return typeof gc === "function" ? (gc as () => void) : null;
  } catch {
    return null;
  }
}
