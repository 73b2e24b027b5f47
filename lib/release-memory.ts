// Keeps an import's memory near what it holds. Downloaded mail lives in Buffers, whose memory V8
// gives back only when it collects their small JavaScript objects; a serverless function's fixed
// memory pays for whatever lingers.
// - What the import knows it no longer needs (a parsed message's download, a written batch's
//   sources) it gives back at once (`releaseBuffer`), without waiting for a full collection.
// - V8 sizes its heap after each full collection by a growing factor it picks from how fast the
//   collection was, up to 4× what survived; Buffers count toward that size. On the import the
//   picked factor left the process 30–40 MB above the same work with a factor of 2, and asking for
//   full collections instead cost more CPU than the whole parse: `boundHeapGrowth` fixes the factor
//   at HEAP_GROWING_PERCENT (V8's `--heap-growing-percent`, which it reads at each collection).

import { setFlagsFromString } from "node:v8";
import { isMarkedAsUntransferable } from "node:worker_threads";

/** The heap may grow to twice what survived the last full collection. */
const HEAP_GROWING_PERCENT = 100;
/** Below this the memory given back is not worth the young-generation object the release costs. */
const MIN_RELEASED_BYTES = 64 * 1024;

let isHeapGrowthBound = false;

/** Fixes V8's heap growing factor for this process (see the module comment); once, whoever calls it. */
export function boundHeapGrowth(): void {
  if (isHeapGrowthBound) return;
  isHeapGrowthBound = true;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}

/**
 * Gives back the memory of `buffer` now rather than at V8's next full collection: its ArrayBuffer is
 * handed to a short-lived copy of its handle (no bytes are copied), which the next young-generation
 * collection frees, a few milliseconds later. Every view of that ArrayBuffer is empty afterwards,
 * so only for a Buffer whose memory nothing else uses. Small buffers are left alone, and so is memory
 * Node marks untransferable: its shared pool, which small Buffers are cut from. Its size is no
 * guide: 8 KB on Node 20, 64 KB on 24, 65,600 bytes on 26, where a size test let it through and the
 * transfer threw. Returns whether the memory was given back.
 */
export function releaseBuffer(buffer: Buffer): boolean {
  const whole = buffer.buffer;
  if (!(whole instanceof ArrayBuffer) || whole.byteLength < MIN_RELEASED_BYTES || isMarkedAsUntransferable(whole)) return false;
  structuredClone(whole, { transfer: [whole] });
  return true;
}

/**
 * `releaseBuffer` for a Buffer a library made: only when it is the sole view of its ArrayBuffer
 * (a buffer allocated on its own, such as a downloaded message, not a slice of a larger read).
 */
export function releaseIfAlone(buffer: Buffer): boolean {
  return buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength && releaseBuffer(buffer);
}
