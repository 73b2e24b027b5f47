// A Gmail API client for one mailbox and one run: where the API is, how to get the mailbox's OAuth2
// access token, the mailbox's quota pace and the run's deadline. Plain `fetch`, typed with Google's
// own `gmail_v1` types (a type-only import): the official `@googleapis/gmail` package would add
// googleapis-common, gaxios and google-auth-library (several megabytes) to every serverless bundle
// for seven REST calls, its retries would not know the run's budget, and its JSON body would hold a
// message's base64 text whole (see `get-raw-message.ts`).

import { type Logger, silentLogger } from "../log.js";
import { MAILBOX_UNITS_PER_SECOND } from "./quota-units.js";
import { createUnitLimiter, type UnitLimiter } from "./unit-limiter.js";

/** Google's address for the Gmail API (the REST reference's `https://gmail.googleapis.com/gmail/v1/…`). */
export const GMAIL_API_BASE_URL = "https://gmail.googleapis.com";
/** Longest wait for one answer, its body included (a 25 MB message in base64 is about 34 MB). */
export const GMAIL_REQUEST_TIMEOUT_MS = 60_000;

/**
 * The mailbox's access token. `refused` is a token Google just answered 401 to: a new one is wanted
 * (`accessTokenFor(integrationId, deps, refused)` in lib/oauth/access-token.ts has this shape).
 */
export type AccessTokenProvider = (refused?: string) => Promise<string>;

export interface GmailClientOptions {
  accessToken: AccessTokenProvider;
  /** Google's by default; the tests' local server otherwise. */
  baseUrl?: string;
  /** `me` (the token's own mailbox) unless another address is named. */
  userId?: string;
  /** The mailbox's quota pace; one per mailbox (a fresh one at MAILBOX_UNITS_PER_SECOND by default). */
  limiter?: UnitLimiter;
  /** The run's budget: no quota wait nor back-off goes past it. */
  deadline?: Date;
  timeoutMs?: number;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** [0, 1), for the back-off's jitter. */
  random?: () => number;
  log?: Logger;
}

export interface GmailClient {
  readonly baseUrl: string;
  readonly userId: string;
  readonly accessToken: AccessTokenProvider;
  readonly limiter: UnitLimiter;
  readonly deadline?: Date;
  readonly timeoutMs: number;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  readonly random: () => number;
  readonly log: Logger;
}

export function createGmailClient(options: GmailClientOptions): GmailClient {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return {
    baseUrl: (options.baseUrl ?? GMAIL_API_BASE_URL).replace(/\/+$/, ""),
    userId: options.userId ?? "me",
    accessToken: options.accessToken,
    limiter: options.limiter ?? createUnitLimiter({ unitsPerSecond: MAILBOX_UNITS_PER_SECOND, burstUnits: MAILBOX_UNITS_PER_SECOND, now, sleep }),
    deadline: options.deadline,
    timeoutMs: options.timeoutMs ?? GMAIL_REQUEST_TIMEOUT_MS,
    now,
    sleep,
    random: options.random ?? Math.random,
    log: options.log ?? silentLogger,
  };
}
