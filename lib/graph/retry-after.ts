// How long a throttled Graph answer asks us to wait. Retry-After is delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3); Graph sends seconds. Without one, Microsoft advises an exponential back-off
// ("Microsoft Graph throttling guidance", best practices).

/** The back-off when a throttled answer names no delay: 1 s, 2 s, 4 s… */
const FIRST_BACKOFF_MS = 1000;
/** A Retry-After longer than this is taken as this: no single wait may swallow a run. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

/** The wait a throttled answer asks for, or undefined when its header is absent or unreadable. */
export function parseRetryAfter(header: string | null, now: Date): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(at - now.getTime(), 0), MAX_RETRY_AFTER_MS);
}

/** The wait before retry number `attempt` (0 for the first retry) when no Retry-After came. */
export function backoffMs(attempt: number): number {
  return Math.min(FIRST_BACKOFF_MS * 2 ** attempt, MAX_RETRY_AFTER_MS);
}
