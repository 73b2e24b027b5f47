// One mailbox's pace against Google's per-user quota: a token bucket of quota units, refilled at a
// steady rate. Each mailbox has its own, so a first import (thousands of messages.get) slows only
// itself: another mailbox's calls never queue behind it. A caller reserves its units at once and
// waits out its own debt, so concurrent calls on one mailbox are served in the order they asked.
// Written here rather than taken from a rate-limit package: the wait must stop at the run's budget
// and the clock must be injectable, and the whole rule is a dozen lines.

import { JobError } from "../errors.js";

export interface UnitLimiterOptions {
  unitsPerSecond: number;
  /** Units that may be spent at once after an idle spell (Google's "short bursts"). */
  burstUnits: number;
  now: () => Date;
  sleep: (ms: number) => Promise<void>;
}

export interface UnitLimiter {
  /**
   * Waits until `units` may be spent, then counts them spent. Throws a transient JobError, without
   * waiting or spending, when the wait would end after `deadline` (the run's budget).
   */
  take(units: number, deadline?: Date): Promise<void>;
  /** Spends nothing until `until`: Google said to slow down, for every call on this mailbox. */
  holdUntil(until: Date): void;
}

export function createUnitLimiter(options: UnitLimiterOptions): UnitLimiter {
  const ratePerMs = options.unitsPerSecond / 1000;
  let available = options.burstUnits;
  let refilledAtMs = options.now().getTime();
  let heldUntilMs = 0;
  const refill = (nowMs: number) => {
    available = Math.min(options.burstUnits, available + (nowMs - refilledAtMs) * ratePerMs);
    refilledAtMs = nowMs;
  };
  return {
    async take(units, deadline) {
      const nowMs = options.now().getTime();
      refill(nowMs);
      const waitMs = Math.max(heldUntilMs - nowMs, available >= units ? 0 : (units - available) / ratePerMs);
      if (deadline && nowMs + waitMs > deadline.getTime()) {
        throw new JobError("transient", "Gmail API quota: this mailbox's next call would wait past the run's budget");
      }
      // Reserved now (the balance may go below zero): later callers wait behind this one.
      available -= units;
      if (waitMs > 0) await options.sleep(Math.ceil(waitMs));
    },
    holdUntil(until) {
      heldUntilMs = Math.max(heldUntilMs, until.getTime());
    },
  };
}
