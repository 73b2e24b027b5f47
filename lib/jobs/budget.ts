// The wall-clock budget of one run: work stops being taken before the platform's time limit
// (30 s for cron-job.org and Netlify), and what is left is picked up by the next ping.

/** A deadline measured on the monotonic clock, so a changed system time cannot stretch it. */
export interface Budget {
  readonly budgetMs: number;
  /** Milliseconds left before the deadline (negative once past it). */
  remainingMs(): number;
  /** True when less than `reserveMs` is left: time to stop taking new work. */
  isExhausted(reserveMs?: number): boolean;
  /** An AbortSignal that fires at the deadline. */
  readonly signal: AbortSignal;
}

/** Starts a budget of `budgetMs` from now. */
export function startBudget(budgetMs: number): Budget {
  const startedAt = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("run budget exhausted")), budgetMs);
  timer.unref?.();
  return {
    budgetMs,
    remainingMs: () => budgetMs - (performance.now() - startedAt),
    isExhausted: (reserveMs = 0) => budgetMs - (performance.now() - startedAt) <= reserveMs,
    signal: controller.signal,
  };
}
