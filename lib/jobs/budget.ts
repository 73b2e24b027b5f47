// The wall-clock budget of one run: work stops being taken before the platform's time limit
// (30 s for cron-job.org and Netlify), and what is left is picked up by the next ping.

/** A deadline measured on the monotonic clock, so a changed system time cannot stretch it. */
export interface Budget {
  readonly budgetMs: number;
  /** Milliseconds left before the deadline (negative once past it). */
  remainingMs(): number;
  /** True when less than `reserveMs` is left: time to stop taking new work. */
  isExhausted(reserveMs?: number): boolean;
  /** Fires at the deadline (never earlier): the hard stop for work that must not outlive the run. */
  readonly signal: AbortSignal;
}

/**
 * Starts a budget of `budgetMs` from now. `stopSignal` ends it early (a server shutting down) as a
 * soft stop: `isExhausted()` turns true, so the job stops taking new work at its next safe point
 * (the end of a batch), while `signal` keeps firing only at the deadline, so nothing in flight is cut.
 */
export function startBudget(budgetMs: number, stopSignal?: AbortSignal): Budget {
  const startedAt = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("run budget exhausted")), budgetMs);
  timer.unref?.();
  const remainingMs = () => (stopSignal?.aborted ? 0 : budgetMs - (performance.now() - startedAt));
  return {
    budgetMs,
    remainingMs,
    isExhausted: (reserveMs = 0) => remainingMs() <= reserveMs,
    signal: controller.signal,
  };
}
