// Whether glibc's malloc arenas are capped in this process. glibc gives each thread that allocates
// an arena of its own (up to 8 per core), and an arena keeps its high-water mark: on a first import
// V8's compiler and collector threads left the process 15–20 MB above the same work with
// MALLOC_ARENA_MAX=2 (`bench/README.md`). glibc reads that variable once, as the process starts: a
// value a platform's launcher puts into `process.env` afterwards changes nothing. So the value is
// read from the environment the process started with (`/proc/self/environ`, Linux).

import { readFileSync } from "node:fs";

/**
 * MALLOC_ARENA_MAX as the process received it when it started, or null: not set then, not a
 * positive integer, or not knowable here (no `/proc`).
 */
export function mallocArenaMaxAtStart(startEnvironment: string | null = readStartEnvironment()): number | null {
  if (startEnvironment === null) return null;
  const entry = startEnvironment.split("\0").find((e) => e.startsWith("MALLOC_ARENA_MAX="));
  const value = entry?.slice("MALLOC_ARENA_MAX=".length) ?? "";
  return /^[1-9]\d{0,3}$/.test(value) ? Number(value) : null;
}

function readStartEnvironment(): string | null {
  try {
    return readFileSync("/proc/self/environ", "latin1");
  } catch {
    return null;
  }
}
