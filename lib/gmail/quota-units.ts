// What each Gmail API call costs, as Google documents it ("Usage limits", Gmail API reference): quota
// units per method, and the per-user rate every project shares with nothing else of ours.

/** The methods this product calls, and their cost in quota units. */
export const GMAIL_QUOTA_UNITS = {
  "users.getProfile": 1,
  "users.watch": 100,
  "users.stop": 50,
  "users.history.list": 2,
  "users.messages.list": 5,
  "users.messages.get": 5,
  "users.messages.send": 100,
} as const satisfies Record<string, number>;

export type GmailMethod = keyof typeof GMAIL_QUOTA_UNITS;

/**
 * Google's per-user limit: 15,000 units per user per minute (`userRateLimitExceeded`), a moving
 * average that the older text gave as 250 units per user per second "allowing short bursts". The
 * per-project limit (1,200,000 units a minute, `rateLimitExceeded`) is 80 mailboxes at full speed.
 */
export const GMAIL_USER_UNITS_PER_SECOND = 250;

/**
 * What one mailbox is allowed per second here: 80 % of Google's limit, so a first import (40
 * messages.get a second) leaves room for the same mailbox's other calls from another process (a
 * follow-up's send, a push-triggered sync) before Google answers 429.
 */
export const MAILBOX_UNITS_PER_SECOND = 200;
