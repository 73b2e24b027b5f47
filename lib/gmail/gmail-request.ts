// The one way a Gmail API call is made: the mailbox's quota units taken first, the access token
// sent (and renewed once when Google answers 401), and Google's refusals turned into kinds. "Too
// fast" (429, or 403 `rateLimitExceeded` / `userRateLimitExceeded`, "Resolve errors" in Google's
// guide) is retried after a back-off with jitter, for every call since a refusal did nothing; a
// server error or a lost answer is retried only for calls that change nothing. No wait goes past
// the run's deadline: the call fails as transient instead, and the next run picks it up.

import { type ErrorKind, JobError } from "../errors.js";
import { readCapped } from "../http/read-body.js";
import { backoffDelayMs } from "./backoff-delay.js";
import type { GmailClient } from "./gmail-client.js";
import { GMAIL_QUOTA_UNITS, type GmailMethod } from "./quota-units.js";

export interface GmailCall {
  method: GmailMethod;
  httpMethod: "GET" | "POST";
  /** After `/gmail/v1/users/{userId}`: `/messages`, `/history`… */
  path: string;
  query?: Record<string, string | readonly string[] | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** Whether repeating the call could do something twice (a send): then only refusals are retried. */
  hasEffect?: boolean;
}

/** An answer Google gave, not 2xx. `reasons` are the error body's `errors[].reason` and `details[].reason`. */
export class GmailApiError extends JobError {
  readonly status: number;
  readonly reasons: readonly string[];
  constructor(kind: ErrorKind, status: number, reasons: readonly string[], message: string) {
    super(kind, message);
    this.name = "GmailApiError";
    this.status = status;
    this.reasons = reasons;
  }
}

/** No answer came: `mayHaveArrived` when the request may have reached Google (reset, time-out), not when it never left. */
export class GmailUnreachableError extends JobError {
  readonly mayHaveArrived: boolean;
  constructor(message: string, mayHaveArrived: boolean, cause: unknown) {
    super("transient", message, { cause });
    this.name = "GmailUnreachableError";
    this.mayHaveArrived = mayHaveArrived;
  }
}

/** Google answered 2xx, but the answer could not be read whole (it broke off, is not JSON, is too large). */
export class GmailAnswerError extends JobError {
  constructor(message: string, cause?: unknown) {
    super("transient", message, { cause });
    this.name = "GmailAnswerError";
  }
}

/** A JSON answer is a page of ids or a small resource; anything bigger is not Google's. */
export const MAX_JSON_RESPONSE_BYTES = 8 * 1024 * 1024;
/** Tries of one call at most (Google's own libraries stop around there). */
const MAX_ATTEMPTS = 6;
const RATE_LIMIT_REASONS = new Set(["rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"]);
/** Connection failures that happen before any byte of the request is written. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"]);

/** Makes `call` and returns Google's 2xx answer, its body unread. Throws GmailApiError or GmailUnreachableError. */
export async function gmailFetch(client: GmailClient, call: GmailCall): Promise<Response> {
  const url = urlOf(client, call);
  let token = await tokenOf(client);
  let hasRenewedToken = false;
  for (let attempt = 0; ; attempt++) {
    await client.limiter.take(GMAIL_QUOTA_UNITS[call.method], client.deadline);
    let response: Response;
    try {
      response = await fetch(url, {
        method: call.httpMethod,
        headers: {
          authorization: `Bearer ${token}`,
          ...(call.body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: AbortSignal.timeout(client.timeoutMs),
        redirect: "error",
      });
    } catch (err) {
      const unreachable = unreachableError(call.method, err);
      if (call.hasEffect || attempt + 1 >= MAX_ATTEMPTS) throw unreachable;
      await backOff(client, call, attempt, null, unreachable);
      continue;
    }
    if (response.ok) return response;
    const refusal = await apiErrorOf(call.method, response);
    if (response.status === 401 && !hasRenewedToken) {
      // Revoked or expired early: one new token, then the same call (a 401 did nothing).
      hasRenewedToken = true;
      token = await tokenOf(client, token);
      continue;
    }
    const isRateLimited = refusal.kind === "transient" && (response.status === 429 || refusal.reasons.some((r) => RATE_LIMIT_REASONS.has(r)));
    const mayRetry = isRateLimited || (response.status >= 500 && !call.hasEffect);
    if (!mayRetry || attempt + 1 >= MAX_ATTEMPTS) throw refusal;
    const delayMs = await backOff(client, call, attempt, response.headers.get("retry-after"), refusal);
    // Every call on this mailbox waits, not only this one: Google counts them all.
    if (isRateLimited) client.limiter.holdUntil(new Date(client.now().getTime() + delayMs));
  }
}

/** Makes `call` and returns its JSON answer, typed as the caller says Google documents it. */
export async function gmailJson<T>(client: GmailClient, call: GmailCall): Promise<T> {
  const response = await gmailFetch(client, call);
  const text = await readCappedText(response, MAX_JSON_RESPONSE_BYTES, call.method);
  if (text.trim() === "") return {} as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new GmailAnswerError(`Gmail API ${call.method}: the answer is not JSON`);
  }
}

/** The body of `response` as text, at most `maxBytes` (the rest is not read). */
async function readCappedText(response: Response, maxBytes: number, method: GmailMethod): Promise<string> {
  if (!response.body) return "";
  let bytes: Buffer | undefined;
  try {
    bytes = await readCapped(response.body, maxBytes);
  } catch (err) {
    throw new GmailAnswerError(`Gmail API ${method}: the answer broke off`, err);
  }
  if (!bytes) throw new GmailAnswerError(`Gmail API ${method}: the answer is over ${maxBytes} bytes`);
  return bytes.toString("utf8");
}

/** The mailbox's token; a failure to get one (other than a refused grant, already a JobError) is transient. */
async function tokenOf(client: GmailClient, refused?: string): Promise<string> {
  try {
    return await client.accessToken(refused);
  } catch (err) {
    if (err instanceof JobError) throw err;
    throw new JobError("transient", "the mailbox's OAuth2 access token could not be had", { cause: err });
  }
}

function urlOf(client: GmailClient, call: GmailCall): URL {
  const url = new URL(`${client.baseUrl}/gmail/v1/users/${encodeURIComponent(client.userId)}${call.path}`);
  for (const [name, value] of Object.entries(call.query ?? {})) {
    if (value === undefined) continue;
    for (const one of typeof value === "string" ? [value] : value) url.searchParams.append(name, one);
  }
  return url;
}

/** Waits before the next try, or throws `failure` when the wait would end past the run's deadline. */
async function backOff(client: GmailClient, call: GmailCall, attempt: number, retryAfter: string | null, failure: JobError): Promise<number> {
  const delayMs = backoffDelayMs(attempt, retryAfter, client.now(), client.random);
  if (client.deadline && client.now().getTime() + delayMs > client.deadline.getTime()) throw failure;
  client.log.debug("gmail api back-off", { method: call.method, attempt, delayMs, reason: failure.message });
  await client.sleep(delayMs);
  return delayMs;
}

/** Google's error body (`{"error": {"code", "message", "errors": [{"reason"}], "status", "details"}}`) as a kind. */
async function apiErrorOf(method: GmailMethod, response: Response): Promise<GmailApiError> {
  let message = "";
  let reasons: string[] = [];
  try {
    const body = JSON.parse(await readCappedText(response, 64 * 1024, method)) as GoogleErrorBody;
    message = body.error?.message ?? "";
    reasons = [...(body.error?.errors ?? []), ...(body.error?.details ?? [])].map((e) => e.reason).filter((r): r is string => typeof r === "string");
  } catch {
    // Not Google's JSON (a proxy's page): the status alone decides.
  }
  const status = response.status;
  const kind: ErrorKind =
    status === 429 || status >= 500 || reasons.some((r) => RATE_LIMIT_REASONS.has(r) || r === "dailyLimitExceeded")
      ? "transient"
      : status === 401 || status === 403
        ? "auth"
        : "permanent";
  const said = message ? `: ${message.slice(0, 200)}` : "";
  return new GmailApiError(kind, status, reasons, `Gmail API ${method} answered HTTP ${status}${reasons.length ? ` (${reasons.join(", ")})` : ""}${said}`);
}

function unreachableError(method: GmailMethod, err: unknown): GmailUnreachableError {
  const code = codeOf(err);
  const isTimeout = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
  const hasNotLeft = code !== undefined && NOT_SENT_CODES.has(code);
  return new GmailUnreachableError(
    `Gmail API ${method}: ${isTimeout ? "no answer in time" : `no answer (${code ?? (err instanceof Error ? err.message : String(err))})`}`,
    !hasNotLeft,
    err,
  );
}

/** The system error code of a failed fetch (undici puts it on `cause`). */
function codeOf(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

interface GoogleErrorBody {
  error?: { code?: number; message?: string; status?: string; errors?: { reason?: string }[]; details?: { reason?: string }[] };
}
