// A failed Microsoft Graph call, with its kind decided here from the HTTP status (lib/errors.ts), the
// error codes Graph put in its body (the top one and every nested `innerError`, which Microsoft tells
// apps to walk: "Microsoft Graph error responses", Code property), and whether the request may
// have reached Graph: what a sender needs to keep exactly-once rules.

import { type ErrorKind, JobError } from "../errors.js";
import { readCapped } from "../http/read-body.js";
import type { ODataErrorBody, ODataInnerError } from "./odata.js";

/** Error bodies are a few hundred bytes; more is not read (a misbehaving proxy's page). */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export class GraphError extends JobError {
  /** HTTP status, or undefined when no answer came (network failure, timeout). */
  readonly status: number | undefined;
  /** Graph's error codes, outermost first (`ErrorAccessDenied`, `syncStateNotFound`…). */
  readonly codes: string[];
  /** How long Graph asked us to wait (Retry-After), when it did. */
  readonly retryAfterMs: number | undefined;
  /**
   * False only when the request certainly never reached Graph (refused connection, unknown host,
   * an answer saying it was not processed): a send that failed this way was not sent.
   */
  readonly mayHaveReachedServer: boolean;

  constructor(kind: ErrorKind, message: string, details: { status?: number; codes?: string[]; retryAfterMs?: number; mayHaveReachedServer: boolean; cause?: unknown }) {
    super(kind, message, { cause: details.cause });
    this.name = "GraphError";
    this.status = details.status;
    this.codes = details.codes ?? [];
    this.retryAfterMs = details.retryAfterMs;
    this.mayHaveReachedServer = details.mayHaveReachedServer;
  }

  /** True when any of Graph's codes is one of `codes` (compared case-insensitively: Outlook spells some capitalized). */
  hasCode(...codes: string[]): boolean {
    const wanted = new Set(codes.map((code) => code.toLowerCase()));
    return this.codes.some((code) => wanted.has(code.toLowerCase()));
  }
}

/**
 * The kind of a Graph answer's status: 401/403 are a refused or withdrawn authorization (the
 * mailbox must be connected again, or its owner must grant access again); 429 and 5xx pass; any
 * other 4xx is a request Graph will refuse again.
 */
export function kindOfStatus(status: number): ErrorKind {
  if (status === 401 || status === 403) return "auth";
  if (status === 429 || status >= 500) return "transient";
  return "permanent";
}

/** The GraphError for a non-2xx answer to `what` (its body is read here, capped). */
export async function graphErrorOf(response: Response, what: string, retryAfterMs?: number): Promise<GraphError> {
  const body = await readErrorBody(response);
  const codes = errorCodes(body);
  const detail = body?.error.message ? `: ${body.error.message}` : "";
  return new GraphError(kindOfStatus(response.status), `Microsoft Graph ${what} answered HTTP ${response.status}${codes[0] ? ` ${codes[0]}` : ""}${detail}`, {
    status: response.status,
    codes,
    retryAfterMs,
    // A 429 is documented as not processed ("Microsoft Graph throttling guidance"); so are the
    // 4xx refusals of a malformed or unauthorized request. A 5xx may have done part of the work.
    mayHaveReachedServer: response.status >= 500,
  });
}

/** Every error code in `body`, outermost first. */
export function errorCodes(body: ODataErrorBody | undefined): string[] {
  const codes: string[] = [];
  if (body?.error.code) codes.push(body.error.code);
  let inner: ODataInnerError | null | undefined = body?.error.innerError;
  for (let depth = 0; inner && depth < 8; depth++) {
    if (inner.code) codes.push(inner.code);
    inner = inner.innerError;
  }
  return codes;
}

async function readErrorBody(response: Response): Promise<ODataErrorBody | undefined> {
  if (!response.body) return undefined;
  try {
    const bytes = await readCapped(response.body, MAX_ERROR_BODY_BYTES);
    if (!bytes) return undefined;
    const parsed: unknown = JSON.parse(bytes.toString("utf8"));
    return isErrorBody(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

function isErrorBody(value: unknown): value is ODataErrorBody {
  return typeof value === "object" && value !== null && typeof (value as { error?: unknown }).error === "object" && (value as { error: unknown }).error !== null;
}
