// How long to wait before asking Google again after it said "too fast" or "try later": its own
// Retry-After when it gives one, else truncated exponential back-off with full jitter, as Google's
// "Resolve errors" guide asks (1 s, 2 s, 4 s… capped; the jitter spreads many mailboxes' retries).

/** The first back-off step. */
export const BACKOFF_BASE_MS = 1_000;
/** Google's guide caps the exponential wait at 32 to 64 seconds. */
export const BACKOFF_MAX_MS = 32_000;

/**
 * The wait before retry number `attempt` (0 for the first retry). `retryAfter` is the answer's
 * Retry-After header (seconds, or an HTTP date); `random` returns [0, 1).
 */
export function backoffDelayMs(attempt: number, retryAfter: string | null, now: Date, random: () => number): number {
  const told = retryAfterMs(retryAfter, now);
  if (told !== undefined) return Math.min(told, BACKOFF_MAX_MS * 4);
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
  // Full jitter, never below a tenth of a second: a zero wait would only repeat the refusal.
  return Math.max(100, Math.floor(random() * ceiling));
}

/** Retry-After in milliseconds (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), undefined when absent or unreadable. */
function retryAfterMs(value: string | null, now: Date): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}
