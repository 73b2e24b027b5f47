// Runs a short database operation again when it failed for a reason that may pass by itself (a
// deadlock, a serialization failure, a dropped connection): a few attempts with jittered, growing
// delays, so that two runs that collided do not collide again in step.

import type { Logger } from "../log.js";
import { describeDbError, isTransientDbError } from "./transient-error.js";

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts?: number;
  /** The first retry waits up to this long; each next one up to twice the previous. */
  baseDelayMs?: number;
  log?: Logger;
  /** Waits `ms` (tests may pass a no-op). */
  sleep?: (ms: number) => Promise<void>;
  /** A number in [0, 1) that picks the delay inside its range. */
  random?: () => number;
}

/**
 * Four tries within about half a second in total: enough for a deadlock victim to go after the
 * winner commits (Postgres detects deadlocks after `deadlock_timeout`, 1 s by default, so they are
 * rare and spread out) or for the pool to open a new connection. A failure that lasts longer
 * is left to the next run.
 */
const DEFAULT_ATTEMPTS = 4;
const DEFAULT_BASE_DELAY_MS = 50;

/**
 * Returns `operation()`'s result, trying again while it throws a transient database error.
 * `operation` must be safe to repeat: a whole transaction, never a part of one.
 */
export async function retryTransient<T>(operation: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const baseDelayMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (err) {
      if (attempt >= attempts || !isTransientDbError(err)) throw err;
      // Half fixed, half random ("equal jitter"): never a zero wait, never two waits in lockstep.
      const capMs = baseDelayMs * 2 ** (attempt - 1);
      const delayMs = Math.round(capMs / 2 + (random() * capMs) / 2);
      options.log?.info("database busy or unreachable: trying again", { attempt, delayMs, err: describeDbError(err) });
      await sleep(delayMs);
    }
  }
}
