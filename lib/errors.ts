// Error kinds, decided where an error is raised, and the one table that turns a kind into an HTTP
// status, a retry decision and a log level.

/** The closed set of failure kinds the jobs know about. */
export type ErrorKind = "auth" | "transient" | "permanent" | "bad-input";

/**
 * How each kind is treated everywhere: the HTTP answer of an endpoint it reaches (`lib/http/respond.ts`,
 * the OAuth endpoints), whether the next run retries soon (`lib/inbox/record-sync-result.ts`: a short
 * back-off, or a long one for what retrying soon would only repeat), the log level of the failure
 * (`lib/inbox/sync-integration.ts`), and how the operator's page and the companies' notifications
 * say it (`operatorWording`, in French: the error's own text, in English, is shown beside it as the
 * detail). `auth` is a login refused by a mail host or an OAuth provider, a server we called: a bad
 * gateway, not a refusal of the caller (that is an HttpError 403). `isItemRefused`: the item itself
 * (a follow-up's message or recipient, a message's bytes) was refused, so trying it again can only
 * be refused again: it is given up (a follow-up's attempt becomes `failed`, `lib/followups`)
 * instead of being left for a later run, as a failed server or account is.
 */
export const ERROR_KINDS = {
  auth: { status: 502, shouldRetry: false, isItemRefused: false, level: "warn", operatorWording: "Accès refusé : le serveur ou le fournisseur refuse l'identifiant, le mot de passe ou l'autorisation" },
  transient: { status: 503, shouldRetry: true, isItemRefused: false, level: "warn", operatorWording: "Panne passagère : serveur injoignable, trop lent ou occupé" },
  permanent: { status: 500, shouldRetry: false, isItemRefused: true, level: "error", operatorWording: "Erreur qui ne passera pas seule : un réglage est à corriger" },
  "bad-input": { status: 400, shouldRetry: false, isItemRefused: true, level: "warn", operatorWording: "Données invalides, refusées" },
} as const satisfies Record<ErrorKind, { status: number; shouldRetry: boolean; isItemRefused: boolean; level: string; operatorWording: string }>;

/** An error whose kind is known. `message` is short and safe to store and show (no secrets). */
export class JobError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "JobError";
    this.kind = kind;
  }
}

/**
 * A send whose answer was lost after the message was handed over: the provider may have delivered
 * it, or not. Never retried blind (a follow-up's attempt becomes `uncertain`); its kind says how the
 * account is treated meanwhile (transient: no answer, so nothing more through it this run).
 */
export class UncertainDeliveryError extends JobError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("transient", message, options);
    this.name = "UncertainDeliveryError";
  }
}

/** An error that is already an HTTP answer (wrong method, wrong secret, misconfiguration). */
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.headers = headers;
  }

  toResponse(): Response {
    return Response.json(
      { success: false, error: this.message },
      { status: this.status, headers: this.headers },
    );
  }
}

/** The database could not be reached: nothing could be done at all. */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`database unreachable: ${shortReason(cause)}`, { cause });
    this.name = "DatabaseUnavailableError";
  }
}

/** The kind of any thrown value: a JobError says it; anything else is treated as transient. */
export function kindOf(err: unknown): ErrorKind {
  return err instanceof JobError ? err.kind : "transient";
}

/** A short, single-line description of an error, fit for `last_sync_error` and summaries. */
export function shortReason(err: unknown, maxLength = 300): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.replace(/\s+/g, " ").trim() || "unknown error";
  return line.length > maxLength ? `${line.slice(0, maxLength - 1)}…` : line;
}
