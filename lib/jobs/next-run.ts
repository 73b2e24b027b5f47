// When a job is expected to run next: its cron expression (from the registry, the schedules every
// platform and `npm start` use) walked forward minute by minute from a given instant.

import type { CronExpression } from "./cron-expression.js";

const MINUTE_MS = 60_000;
/** Every five-field expression fires within a year except impossible dates; a little over covers leap days. */
const SEARCH_LIMIT_MINUTES = 366 * 24 * 60 + 1;

/** The first minute strictly after `after` in which `expression` fires, or undefined if none within a year. */
export function nextRunAfter(expression: CronExpression, after: Date): Date | undefined {
  let minuteMs = Math.floor(after.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  for (let i = 0; i < SEARCH_LIMIT_MINUTES; i++, minuteMs += MINUTE_MS) {
    const at = new Date(minuteMs);
    if (expression.matches(at)) return at;
  }
  return undefined;
}
