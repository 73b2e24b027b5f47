// The import gives back the memory of downloaded mail it no longer holds (release-memory.ts),
// instead of waiting for V8's own schedule (64 MB of growth).

import { getHeapStatistics } from "node:v8";
import { describe, expect, it } from "vitest";
import { releaseDownloadedMemory } from "../../lib/inbox/release-memory.js";

describe("releasing downloaded memory", () => {
  it("collects dead buffers once they add up, and does nothing while they are few", () => {
    let held: Buffer[] | null = Array.from({ length: 40 }, () => Buffer.alloc(1024 * 1024, 1));
    const withBuffers = getHeapStatistics().external_memory;
    expect(held.length).toBe(40);
    held = null;
    expect(releaseDownloadedMemory()).toBe(true);
    expect(getHeapStatistics().external_memory).toBeLessThan(withBuffers - 30 * 1024 * 1024);
    // Right after, with nothing new downloaded, no further collection is asked for.
    expect(releaseDownloadedMemory()).toBe(false);
  });
});
