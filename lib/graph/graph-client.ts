// The one way this product calls Microsoft Graph: plain fetch, typed with
// @microsoft/microsoft-graph-types, with the rules every call shares written once here:
// - the mailbox's OAuth2 access token from a callback (lib/oauth/access-token.ts in production); a
//   401 asks it once for a new token, naming the refused one so it is not handed out again;
// - at most 4 requests in flight per mailbox (mailbox-limiter.ts), a slot held until the answer's
//   body is read or cancelled, since Outlook counts a request until its answer has gone out;
// - throttled answers (429, and 503 with Retry-After) waited out and retried, within the caller's
//   deadline: a wait that would end past it is not started, the error says how long Graph asked;
// - absolute URLs (the nextLink and deltaLink Graph hands out, kept as cursors) only under the base
//   URL, so a stored or forged link can never send the mailbox's token to another host.
// The official @microsoft/microsoft-graph-client was not used: its retry handler sleeps on its own
// clock with no deadline, and it adds a middleware chain and a runtime dependency for what is here
// one function over fetch, whose streamed body the $value download needs as it is.

import { JobError } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { GraphError } from "./graph-error.js";
import { createMailboxLimiter, type MailboxLimiter, type ReleaseSlot } from "./mailbox-limiter.js";
import { type GraphMailbox, mailboxKey } from "./mailbox-path.js";
import { backoffMs, parseRetryAfter } from "./retry-after.js";

export const GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0";
/** Longest wait for one answer (headers and body) when the caller's deadline is further. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** Throttled answers waited out for one request before giving up until the next run. */
const MAX_THROTTLED_RETRIES = 4;

export interface GraphClientOptions {
  /** The mailbox's access token; `refused` is one Graph just turned down (401), not to be given again. */
  accessToken: (refused?: string) => Promise<string>;
  /** Graph's root, `https://graph.microsoft.com/v1.0` unless a test points it at its local server. */
  baseUrl?: string;
  /** Business clock: deadlines are on it, and Retry-After dates are read against it. */
  now?: () => Date;
  /** Waits `ms` (tests pass one that returns at once and records the wait). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Shared by every client of the process that may reach the same mailbox. */
  limiter?: MailboxLimiter;
  requestTimeoutMs?: number;
  log?: Logger;
}

export interface GraphRequest {
  method?: "GET" | "POST" | "PATCH" | "DELETE";
  /** A path under the base URL (`/me/sendMail`), or an absolute `url` Graph handed out. */
  path?: string;
  url?: string;
  headers?: Record<string, string>;
  body?: string;
  /** What the call does, for error messages ("delta of inbox"). */
  what: string;
}

export interface CallOptions {
  /** On the client's clock: no request starts, and no throttled wait ends, after it. */
  deadline?: Date;
  signal?: AbortSignal;
}

export interface GraphClient {
  readonly baseUrl: string;
  readonly now: () => Date;
  /**
   * Sends `request` for `mailbox` and returns Graph's answer, 2xx or not, once it is neither a
   * throttled one nor a first 401. Throws a GraphError when no answer came or throttling outlasted
   * the deadline. The caller must read or cancel the answer's body: its mailbox slot is held until then.
   */
  send(mailbox: GraphMailbox, request: GraphRequest, options?: CallOptions): Promise<Response>;
}

export function createGraphClient(options: GraphClientOptions): GraphClient {
  const baseUrl = (options.baseUrl ?? GRAPH_BASE_URL).replace(/\/+$/, "");
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? sleepFor;
  const limiter = options.limiter ?? createMailboxLimiter();
  const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const log = options.log ?? silentLogger;

  return {
    baseUrl,
    now,
    async send(mailbox, request, call = {}) {
      const url = targetUrl(baseUrl, request);
      let refusedToken: string | undefined;
      for (let throttled = 0; ; ) {
        const remainingMs = call.deadline ? call.deadline.getTime() - now().getTime() : Infinity;
        if (remainingMs <= 0) throw notSent("transient", `no time left for Microsoft Graph ${request.what}`);
        const release = await limiter.acquire(mailboxKey(mailbox), call.signal);
        let response: Response;
        let token: string;
        try {
          token = await options.accessToken(refusedToken);
          response = await fetch(url, {
            method: request.method ?? "GET",
            headers: { ...request.headers, authorization: `Bearer ${token}` },
            body: request.body,
            redirect: "manual",
            signal: combinedSignal(call.signal, Math.min(timeoutMs, remainingMs)),
          });
        } catch (err) {
          release();
          if (err instanceof JobError) throw err; // the token provider's own failure, kind decided there
          throw networkError(request.what, err);
        }
        if (response.status === 401 && refusedToken === undefined) {
          // An access token revoked before its expiry: one new token, then the answer stands.
          await discard(response, release);
          refusedToken = token;
          continue;
        }
        if (isThrottled(response)) {
          const waitMs = parseRetryAfter(response.headers.get("retry-after"), now()) ?? backoffMs(throttled);
          await discard(response, release);
          const endsAt = now().getTime() + waitMs;
          if (throttled >= MAX_THROTTLED_RETRIES || (call.deadline && endsAt > call.deadline.getTime())) {
            throw new GraphError("transient", `Microsoft Graph ${request.what} is throttled (HTTP ${response.status}): retry in ${Math.ceil(waitMs / 1000)} s`, {
              status: response.status, retryAfterMs: waitMs, mayHaveReachedServer: false,
            });
          }
          log.warn("graph request throttled", { what: request.what, status: response.status, retryAfterMs: waitMs });
          throttled++;
          await sleep(waitMs, call.signal);
          continue;
        }
        return holdingSlot(response, release);
      }
    },
  };
}

/** 429, and 503 with Retry-After: Graph's "wait, then repeat the request" answers (Graph errors, 503). */
function isThrottled(response: Response): boolean {
  return response.status === 429 || (response.status === 503 && response.headers.has("retry-after"));
}

function targetUrl(baseUrl: string, request: GraphRequest): string {
  if (request.url === undefined) return `${baseUrl}${request.path ?? ""}`;
  let url: URL;
  try {
    url = new URL(request.url);
  } catch {
    throw notSent("bad-input", `Microsoft Graph ${request.what}: the link is not a URL`);
  }
  const base = new URL(`${baseUrl}/`);
  if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname) || url.username || url.password) {
    throw notSent("bad-input", `Microsoft Graph ${request.what}: refused a link outside ${base.origin}${base.pathname}`);
  }
  return url.href;
}

function notSent(kind: "transient" | "bad-input", message: string): GraphError {
  return new GraphError(kind, message, { mayHaveReachedServer: false });
}

/** Connection-phase failures: the request never left this machine. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "UND_ERR_CONNECT_TIMEOUT"]);

function networkError(what: string, err: unknown): GraphError {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === "string" ? cause.code : undefined;
  const isTimeout = err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError");
  const reason = isTimeout ? "no answer in time" : code ?? (err instanceof Error ? err.message : String(err));
  return new GraphError("transient", `Microsoft Graph ${what}: ${reason}`, {
    mayHaveReachedServer: code === undefined || !NOT_SENT_CODES.has(code),
    cause: err,
  });
}

function combinedSignal(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs)));
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}

async function discard(response: Response, release: ReleaseSlot): Promise<void> {
  await response.body?.cancel().catch(() => {});
  release();
}

/** Statuses whose Response may not carry a body (Fetch standard, "null body status"). */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/**
 * The same answer, with the mailbox slot released when its body has been read to the end, failed,
 * or been cancelled, and at once when it has none.
 */
function holdingSlot(response: Response, release: ReleaseSlot): Response {
  if (!response.body || NULL_BODY_STATUSES.has(response.status)) {
    void response.body?.cancel().catch(() => {});
    release();
    return new Response(null, { status: response.status, statusText: response.statusText, headers: response.headers });
  }
  const reader = response.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await reader.read();
        if (next.done) {
          release();
          controller.close();
        } else {
          controller.enqueue(next.value);
        }
      } catch (err) {
        release();
        controller.error(err);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
