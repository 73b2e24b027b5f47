// Downloaded mail lives in Buffers, whose memory V8 gives back only when it collects their small
// JavaScript objects, and V8 starts a full collection for that (external) memory only once it has
// grown by 64 MB since the last one. An import that holds a few MB of live mail would then sit
// tens of MB above what it needs, which a serverless function's fixed memory pays for. After each
// message parsed (its attachments stored), once external memory has grown by RELEASE_AFTER_BYTES
// since the last collection asked here, the import asks V8 for a full one (about 10 ms for this
// process's heap), at most every MIN_INTERVAL_MS, so that many mailboxes synced at once cannot
// make it run all the time. What the import knows it no longer needs (a stored batch's sources, a
// decoded attachment once written) it gives back at once (`releaseBuffer`), so these collections
// are asked for less often.

import { getHeapStatistics, setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

const RELEASE_AFTER_BYTES = 8 * 1024 * 1024;
const MIN_INTERVAL_MS = 200;
/** Below this a buffer may share its memory with others (Node's pool is 8 KB); not worth it anyway. */
const MIN_RELEASED_BYTES = 64 * 1024;

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

/**
 * Gives back the memory of `buffer` now rather than at V8's next full collection: its ArrayBuffer is
 * handed to a short-lived copy of its handle (no bytes are copied), which the next young-generation
 * collection frees, a few milliseconds later. Every view of that ArrayBuffer is empty afterwards,
 * so only for a Buffer whose memory nothing else uses. Small buffers (possibly Node's shared pool)
 * are left alone.
 */
export function releaseBuffer(buffer: Buffer): void {
  const whole = buffer.buffer;
  if (!(whole instanceof ArrayBuffer) || whole.byteLength < Math.max(MIN_RELEASED_BYTES, Buffer.poolSize + 1)) return;
  structuredClone(whole, { transfer: [whole] });
}

/**
 * `releaseBuffer` for a Buffer a library made: only when it is the sole view of its ArrayBuffer
 * (a buffer allocated on its own, such as a downloaded message, not a slice of a larger read).
 */
export function releaseIfAlone(buffer: Buffer): void {
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) releaseBuffer(buffer);
}
