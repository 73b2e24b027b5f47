// The wall-clock budget of one run, and the one rule that sizes it: work stops being taken before
// the platform stops the function, and what is left is picked up by the next ping.

import type { Platform } from "../config.js";

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

/** How a platform invoked the function a run is in. */
export type InvocationKind = "request" | "schedule";

/** The invocation a run is part of: the platform's limit counts from its start, not from the run's. */
export interface Invocation {
  /** `performance.now()` at the handler's first line. */
  startedAtMs: number;
  /** The platform's limit on the invocation; undefined in a process of our own (`npm start`, the CLI). */
  limitMs?: number;
}

/**
 * Netlify's limits on one invocation, fixed by the platform ("Functions configuration", default
 * values: synchronous 60 s, scheduled 30 s, neither configurable).
 */
export const NETLIFY_SYNCHRONOUS_LIMIT_MS = 60_000;
export const NETLIFY_SCHEDULED_LIMIT_MS = 30_000;

/** Kept after a run's last step for recording the run, closing the database and sending the answer. */
export const FINISH_MARGIN_MS = 2_000;

/** The least budget a run gets, even when the margins would leave less (it then starts almost nothing). */
const MIN_BUDGET_MS = 1_000;

/**
 * The limit of one invocation: Netlify's by kind; on Vercel the function's `maxDuration` (vercel.json,
 * repeated in the job's registry entry, which tests/app/routes.test.ts checks). None elsewhere.
 */
export function invocationLimitMs(platform: Platform, kind: InvocationKind, maxDurationS?: number): number | undefined {
  if (platform === "netlify") return kind === "schedule" ? NETLIFY_SCHEDULED_LIMIT_MS : NETLIFY_SYNCHRONOUS_LIMIT_MS;
  if (platform === "vercel" && maxDurationS !== undefined) return maxDurationS * 1_000;
  return undefined;
}

/**
 * How long a run may take new work, counted from the start of its invocation:
 *
 *     budget = min(RUN_BUDGET_MS, platform limit − the job's last step − FINISH_MARGIN_MS)
 *
 * Why: the platform kills the function at its limit, counted from the invocation's start (module
 * loading and the database connection included), whatever is in flight. A job stops taking work at
 * its budget's end, but the step it started just before (an email handed to an SMTP server that may
 * take SMTP_TIMEOUT_MS to answer) still runs to its end, and then the run is recorded and the answer
 * sent. Without a platform limit (our own process) RUN_BUDGET_MS alone decides: a pinger such as
 * cron-job.org waits 30 s for the answer.
 */
export function runBudgetMs(configuredMs: number, limitMs: number | undefined, lastStepMs: number): number {
  if (limitMs === undefined) return configuredMs;
  return Math.max(MIN_BUDGET_MS, Math.min(configuredMs, limitMs - lastStepMs - FINISH_MARGIN_MS));
}

/**
 * Starts a budget of `budgetMs` from `startedAtMs` (now by default; an invocation's start, so the time
 * already spent counts). `stopSignal` ends it early (a server shutting down) as a soft stop:
 * `isExhausted()` turns true, so the job stops taking new work at its next safe point (the end of a
 * batch), while `signal` keeps firing only at the deadline, so nothing in flight is cut.
 */
export function startBudget(budgetMs: number, stopSignal?: AbortSignal, startedAtMs = performance.now()): Budget {
  const controller = new AbortController();
  const untilDeadlineMs = () => budgetMs - (performance.now() - startedAtMs);
  const remainingMs = () => (stopSignal?.aborted ? 0 : untilDeadlineMs());
  const timer = setTimeout(() => controller.abort(new Error("run budget exhausted")), Math.max(0, untilDeadlineMs()));
  timer.unref?.();
  return {
    budgetMs,
    remainingMs,
    isExhausted: (reserveMs = 0) => remainingMs() <= reserveMs,
    signal: controller.signal,
  };
}
