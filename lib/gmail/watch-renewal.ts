// When a mailbox's Gmail watch is renewed. A watch lasts 7 days and Google asks for `users.watch`
// to be called again before then, recommending once a day: renewing once less than 6 days are left
// does that, and leaves 6 days of daily retries before a failing renewal loses a notification
// (polling catches up on anything missed meanwhile).

/** How long before its expiry a watch is renewed: a day after it was made. */
export const WATCH_RENEW_AHEAD_MS = 6 * 24 * 3_600_000;

export interface WatchState {
  /** The watch's expiry, as `users.watch` answered; null when the mailbox has none. */
  expiresAt: Date | null;
  /** The topic it publishes to. */
  topicName: string | null;
}

/** When the watch should next be renewed: now when there is none, it points elsewhere, or its time came. */
export function watchRenewalAt(watch: WatchState, topicName: string, now: Date): Date {
  if (!watch.expiresAt || watch.topicName !== topicName) return now;
  const renewAt = new Date(watch.expiresAt.getTime() - WATCH_RENEW_AHEAD_MS);
  return renewAt < now ? now : renewAt;
}

/** Whether `users.watch` should be called for this mailbox now. */
export function isWatchRenewalDue(watch: WatchState, topicName: string, now: Date): boolean {
  return watchRenewalAt(watch, topicName, now).getTime() <= now.getTime();
}
