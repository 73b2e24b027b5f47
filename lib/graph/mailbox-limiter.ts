// At most N requests in flight per mailbox. Outlook refuses a fifth concurrent request to one
// mailbox with 429 ApplicationThrottled "Application is over its MailboxConcurrency limit"
// ("Microsoft Graph service-specific throttling limits", Outlook service limits: 4 concurrent
// requests). Waiting here costs nothing; a refusal costs its Retry-After. Kept by hand: it is a
// counter and a queue per key, which no maintained library offers keyed without pulling in more.

/** Releases a slot; calling it twice releases once. */
export type ReleaseSlot = () => void;

export interface MailboxLimiter {
  /** Waits for a free slot for `key`; the caller must release it once its request is over. */
  acquire(key: string, signal?: AbortSignal): Promise<ReleaseSlot>;
  /** Requests in flight for `key` now. */
  inFlight(key: string): number;
}

/** Outlook's documented concurrency per mailbox. */
export const OUTLOOK_CONCURRENT_REQUESTS_PER_MAILBOX = 4;

export function createMailboxLimiter(maxConcurrent: number = OUTLOOK_CONCURRENT_REQUESTS_PER_MAILBOX): MailboxLimiter {
  const slots = new Map<string, { running: number; waiting: Array<() => void> }>();
  const stateOf = (key: string) => {
    let state = slots.get(key);
    if (!state) {
      state = { running: 0, waiting: [] };
      slots.set(key, state);
    }
    return state;
  };
  const releaser = (key: string): ReleaseSlot => {
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      const state = stateOf(key);
      const next = state.waiting.shift();
      if (next) next(); // the slot passes on without ever being free
      else if (--state.running === 0) slots.delete(key);
    };
  };
  return {
    async acquire(key, signal) {
      signal?.throwIfAborted();
      const state = stateOf(key);
      if (state.running < maxConcurrent) {
        state.running++;
        return releaser(key);
      }
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          state.waiting.splice(state.waiting.indexOf(grant), 1);
          reject(signal!.reason);
        };
        const grant = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        state.waiting.push(grant);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      return releaser(key);
    },
    inFlight: (key) => slots.get(key)?.running ?? 0,
  };
}
