// The import gives back the memory of downloaded mail it no longer holds (release-memory.ts) at
// once, instead of waiting for V8's next full collection.

import { getHeapStatistics } from "node:v8";
import { markAsUntransferable } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { releaseBuffer, releaseIfAlone } from "../../lib/release-memory.js";

describe("giving back one buffer's memory at once", () => {
  let sink: unknown;
  /** Short-lived objects, for V8 to run its young-generation collection now and then. */
  const churn = (rounds: number) => {
    for (let round = 0; round < rounds; round++) sink = Array.from({ length: 100_000 }, (_, i) => ({ i }));
  };

  it("frees a released buffer at a young-generation collection, while it is still referenced", () => {
    const held = Array.from({ length: 20 }, () => Buffer.alloc(2 * 1024 * 1024, 1));
    churn(20); // old enough to wait for a full collection
    const target = getHeapStatistics().external_memory - 30 * 1024 * 1024;
    for (const buffer of held) releaseBuffer(buffer);
    // Young collections come at V8's pace, slower on a busy machine: churn until one has run, within a bound.
    for (let round = 0; round < 2000 && getHeapStatistics().external_memory >= target; round++) churn(1);
    expect(getHeapStatistics().external_memory).toBeLessThan(target);
    expect(held.every((buffer) => buffer.length === 0)).toBe(true);
    expect(sink).toBeDefined();
  });

  it("leaves alone a slice of a larger buffer, and a buffer of Node's shared pool", () => {
    const whole = Buffer.alloc(1024 * 1024, 2);
    const slice = whole.subarray(0, 512 * 1024);
    releaseIfAlone(slice);
    expect(whole.length).toBe(1024 * 1024);
    expect(slice.every((byte) => byte === 2)).toBe(true);

    const pooled = Buffer.from("une petite pièce jointe");
    const neighbour = Buffer.from("sa voisine dans le même bloc");
    releaseBuffer(pooled);
    releaseIfAlone(pooled);
    expect(pooled.toString()).toBe("une petite pièce jointe");
    expect(neighbour.toString()).toBe("sa voisine dans le même bloc");

    const alone = Buffer.alloc(1024 * 1024, 3);
    releaseIfAlone(alone);
    expect(alone.length).toBe(0);
  });

  it("leaves alone, without throwing, a large buffer Node will not hand over (its shared pool is one, 65,600 bytes on Node 26)", () => {
    const shared = Buffer.alloc(1024 * 1024, 4);
    markAsUntransferable(shared.buffer);
    expect(releaseBuffer(shared)).toBe(false);
    expect(releaseIfAlone(shared)).toBe(false);
    expect(shared.length).toBe(1024 * 1024);
    expect(shared.every((byte) => byte === 4)).toBe(true);

    const pooled = Buffer.from("un petit morceau du bloc partagé");
    expect(releaseBuffer(pooled)).toBe(false);
    expect(pooled.toString()).toBe("un petit morceau du bloc partagé");
  });
});
