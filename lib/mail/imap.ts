// Opens an IMAP session for one integration around imapflow: the server's address checked first
// (mail-host-guard.ts), TLS (implicit or required STARTTLS), certificate verification, timeouts on
// every phase, a hard wall-clock stop, and errors with a kind.

import { ImapFlow, type ImapFlowOptions } from "imapflow";
import type { MailHostPolicy } from "../config.js";
import type { SecretKeys } from "../crypto/secret-box.js";
import type { inboxIntegrations } from "../db/schema.js";
import { JobError } from "../errors.js";
import type { Logger } from "../log.js";
import { type MailLogin, passwordLogin } from "./credentials.js";
import { resolveMailHost } from "./mail-host-guard.js";

/** What a session needs to know about an integration (a row of `inbox_integrations`). */
export type ImapSettings = Pick<
  typeof inboxIntegrations.$inferSelect,
  "id" | "imapServer" | "imapPort" | "emailAddress" | "imapUsername" | "emailPassword" | "useSsl" | "tlsRejectUnauthorized"
>;

export interface ImapSessionOptions {
  keys: SecretKeys;
  /** What to log in with (`credentialsFor`); without it, the integration's stored password. */
  login?: MailLogin;
  /** TCP + TLS handshake, and the server's greeting. */
  connectTimeoutMs: number;
  /** Socket inactivity while a command waits for the server (a stalled FETCH, a silent LOGIN). */
  commandTimeoutMs: number;
  log: Logger;
  /** Ends the session at once when it fires (the run budget's hard stop). */
  signal?: AbortSignal;
  /** Extra trusted certificates (PEM), for servers signed by a private CA. */
  caPem?: string;
  /** Which servers the settings may point at (config.mailHosts). */
  hostPolicy: MailHostPolicy;
}

/** An open, authenticated session, handed to the work done inside `withImap`. */
export interface ImapSession {
  client: ImapFlow;
  log: Logger;
}

/**
 * Connects and logs in, runs `fn`, then logs out (or drops the socket when logout hangs). Every
 * failure leaves as a JobError: `auth` when the server refused the credentials, `permanent` for
 * settings that cannot work (no server, an address or port not allowed, no STARTTLS, certificate
 * rejected), `transient` otherwise.
 */
export async function withImap<T>(
  integration: ImapSettings,
  options: ImapSessionOptions,
  fn: (session: ImapSession) => Promise<T>,
): Promise<T> {
  const log = options.log.with({ integrationId: integration.id });
  const settings = clientOptions(integration, options, log);
  let client: ImapFlow | undefined;
  // The hard stop closes the socket (failing the pending command) and ends the session even if `fn`
  // is waiting on something else: a run must end within its budget whatever the server does.
  let stop = () => {};
  const stopped = new Promise<never>((_, reject) => {
    stop = () => {
      client?.close();
      reject(new JobError("transient", "stopped at the run budget while the IMAP server was still answering"));
    };
  });
  stopped.catch(() => {});
  options.signal?.addEventListener("abort", stop, { once: true });
  // The socket's own failure (a timeout) arrives on 'error'; the pending command then only says "NoConnection".
  let connectionError: unknown;
  let isLoggedIn = false;
  try {
    if (options.signal?.aborted) throw new JobError("transient", "run budget exhausted before connecting");
    const target = await Promise.race([
      resolveMailHost(settings.host, settings.port, options.hostPolicy, { timeoutMs: options.connectTimeoutMs }),
      stopped,
    ]);
    // The checked address, never the name again (a second lookup could answer differently), while
    // the certificate is still checked against the name the mailbox settings give.
    client = new ImapFlow({ ...settings, host: target.address, ...(target.servername ? { servername: target.servername } : {}) });
    // imapflow emits 'error' on the client for socket failures; unhandled, it would crash the process.
    client.on("error", (err: unknown) => {
      connectionError ??= err;
      log.debug("imap connection error", { err: describe(err) });
    });
    await Promise.race([client.connect(), stopped]);
    isLoggedIn = true;
    const sessionLog = log.with({ cid: client.id });
    sessionLog.debug("imap session open", { tls: client.secureConnection });
    return await Promise.race([fn({ client, log: sessionLog }), stopped]);
  } catch (err) {
    const cause = isConnectionLoss(err) && connectionError ? connectionError : err;
    const failure = toJobError(cause, options.signal, options.commandTimeoutMs, integration.id);
    // A setting that cannot work (TLS, STARTTLS) stays what it is, whatever the socket did after.
    if (!isLoggedIn && failure.kind !== "permanent" && !options.signal?.aborted && isSessionRefusal(cause)) {
      throw new SessionRefusedError(describe(cause), { cause });
    }
    throw failure;
  } finally {
    options.signal?.removeEventListener("abort", stop);
    if (client) await logoutOrClose(client, options.commandTimeoutMs);
  }
}

/** The login name: `imap_username` when set, else the mailbox address. */
export function imapLogin(integration: Pick<ImapSettings, "imapUsername" | "emailAddress">): string | null {
  return integration.imapUsername?.trim() || integration.emailAddress?.trim() || null;
}

function clientOptions(
  integration: ImapSettings,
  options: ImapSessionOptions,
  log: Logger,
): ImapFlowOptions & { host: string; port: number } {
  const host = integration.imapServer?.trim();
  const user = imapLogin(integration);
  if (!host) throw new JobError("permanent", "no IMAP server configured");
  if (!user) throw new JobError("permanent", "no IMAP login configured (imap_username or email_address)");
  const isImplicitTls = integration.useSsl;
  return {
    host,
    port: integration.imapPort ?? (isImplicitTls ? 993 : 143),
    secure: isImplicitTls,
    // Without implicit TLS the upgrade is required: a capability list received in clear text can be
    // stripped of STARTTLS by anyone on the path, and the password must never cross it unencrypted.
    doSTARTTLS: isImplicitTls ? undefined : true,
    tls: {
      rejectUnauthorized: integration.tlsRejectUnauthorized,
      ...(options.caPem ? { ca: options.caPem } : {}),
    },
    auth: options.login ?? passwordLogin(integration, "imap", options.keys),
    connectionTimeout: options.connectTimeoutMs,
    greetingTimeout: options.connectTimeoutMs,
    socketTimeout: options.commandTimeoutMs,
    // A short-lived session that never waits for new mail: IDLE would only add round trips.
    disableAutoIdle: true,
    logger: bridgeLogger(log),
    clientInfo: { name: "lokario-cron" },
  };
}

/** imapflow's logger interface onto ours: only the message, the connection id and an error text. */
function bridgeLogger(log: Logger): NonNullable<ImapFlowOptions["logger"]> {
  const line = (level: "debug" | "warn") => (entry: unknown) => {
    const record = (entry ?? {}) as { msg?: unknown; cid?: unknown; err?: unknown };
    const fields: Record<string, unknown> = { cid: record.cid };
    if (record.err) fields.err = describe(record.err);
    // imapflow logs a failed command as `{ err }` alone: name it, rather than print an empty line.
    const message = typeof record.msg === "string" && record.msg.trim() ? record.msg : record.err ? "command failed" : "event";
    log[level](`imapflow: ${message}`, fields);
  };
  // imapflow reports routine protocol steps at info: they belong at debug in a job's log.
  return { debug: line("debug"), info: line("debug"), warn: line("warn"), error: line("warn") };
}

/**
 * The server turned a new session away before login completed in a way servers use when they hold
 * too many sessions (Dovecot's `NO [LIMIT]`, `[UNAVAILABLE]`, "Too many connections", a BYE or a
 * reset instead of the greeting or the login's answer). Transient; whether it was this run's own
 * concurrency is decided by the caller, which knows how many sessions it had open there.
 */
export class SessionRefusedError extends JobError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super("transient", `IMAP server refused another session: ${detail}`, options);
    this.name = "SessionRefusedError";
  }
}

const REFUSAL_RESPONSE_CODES = new Set(["LIMIT", "UNAVAILABLE"]);
const REFUSAL_TEXT = /too many (simultaneous |concurrent )?(connections|sessions)|maximum number of connections|connection limit/i;
/** A socket closed or reset after it was accepted and before login answered: a BYE or a drop at the door. */
const REFUSAL_CONNECTION_CODES = new Set(["ECONNRESET", "EPIPE", "NoConnection", "EConnectionClosed", "ClosedAfterConnectText", "ClosedAfterConnectTLS"]);

function isSessionRefusal(err: unknown): boolean {
  const e = (err ?? {}) as ImapFlowErrorShape & { message?: string };
  const code = e.serverResponseCode?.toUpperCase();
  const saysTooMany = REFUSAL_TEXT.test(`${e.responseText ?? ""} ${e.message ?? ""}`);
  // A login the server answered and refused is the mailbox's unless it says it holds too many
  // sessions: Dovecot answers a failed or withdrawn access (a shared mailbox's member removed) with
  // `NO [UNAVAILABLE] Temporary authentication failure`, which must stay an auth failure.
  if (e.authenticationFailed) return code === "LIMIT" || saysTooMany;
  if (code && REFUSAL_RESPONSE_CODES.has(code)) return true;
  if (saysTooMany) return true;
  return e.code !== undefined && REFUSAL_CONNECTION_CODES.has(e.code);
}

interface ImapFlowErrorShape {
  code?: string;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  responseText?: string;
  serverResponseCode?: string;
}

const TRANSIENT_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN",
  "NoConnection", "EConnectionClosed", "CONNECT_TIMEOUT", "GREETING_TIMEOUT", "UPGRADE_TIMEOUT", "ETIMEOUT",
  "ClosedAfterConnectText", "ClosedAfterConnectTLS", "ETHROTTLE",
]);

/** Decides the kind of an IMAP failure where it is raised. Messages carry no credentials. */
function toJobError(err: unknown, signal: AbortSignal | undefined, commandTimeoutMs: number, integrationId: number): JobError {
  if (err instanceof JobError) return err;
  if (signal?.aborted) return new JobError("transient", "stopped at the run budget while the IMAP server was still answering", { cause: err });
  const e = (err ?? {}) as ImapFlowErrorShape;
  if (e.authenticationFailed) {
    const detail = e.serverResponseCode ? ` (${e.serverResponseCode})` : "";
    return new JobError("auth", `IMAP login refused${detail}`, { cause: err });
  }
  if (e.code === "MissingServerExtension" || /STARTTLS/i.test(String((err as Error)?.message ?? ""))) {
    return new JobError("permanent", "the IMAP server does not offer STARTTLS: enable SSL (port 993) or use a server with TLS", { cause: err });
  }
  // A TLS handshake answered in clear text: the port expects STARTTLS (or no TLS at all). Retrying
  // cannot help, so it is permanent, with the two settings that work.
  if (isPlainTextReply(err)) {
    return new JobError("permanent", "this port does not speak TLS: use STARTTLS (--no-ssl) or port 993", { cause: err });
  }
  if (isCertificateError(err)) {
    return new JobError(
      "permanent",
      `TLS certificate rejected: ${describe(err)}. If this is your own server with a self-signed certificate, ` +
        `accept it with --insecure-tls (lokario-cron integrations update ${integrationId} --insecure-tls)`,
      { cause: err },
    );
  }
  if (e.tlsFailed) return new JobError("permanent", `TLS failed: ${describe(err)}`, { cause: err });
  if (e.code === "ENOTFOUND") return new JobError("permanent", "IMAP server host name not found", { cause: err });
  if (e.code === "ETIMEOUT") {
    return new JobError("transient", `IMAP server stopped answering (nothing received for ${commandTimeoutMs} ms)`, { cause: err });
  }
  if (e.code && TRANSIENT_CODES.has(e.code)) return new JobError("transient", `IMAP connection failed: ${e.code}`, { cause: err });
  return new JobError("transient", `IMAP error: ${describe(err)}`, { cause: err });
}

function isConnectionLoss(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "NoConnection" || code === "EConnectionClosed";
}

function isPlainTextReply(err: unknown): boolean {
  const e = (err ?? {}) as { code?: unknown; reason?: unknown };
  return e.code === "ERR_SSL_WRONG_VERSION_NUMBER" || e.reason === "wrong version number";
}

function isCertificateError(err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? "");
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|HOSTNAME/i.test(code);
}

/** A one-line description of an imapflow error: code and server text, never the command sent. */
function describe(err: unknown): string {
  const e = (err ?? {}) as ImapFlowErrorShape & { message?: string };
  const parts = [e.code, e.responseText ?? e.message].filter((p): p is string => typeof p === "string" && p.length > 0);
  return parts.join(": ").replace(/\s+/g, " ").slice(0, 200) || "unknown error";
}

/** LOGOUT politely, but never wait on a server that stopped answering. */
async function logoutOrClose(client: ImapFlow, timeoutMs: number): Promise<void> {
  if (!client.usable) {
    client.close();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([client.logout().catch(() => {}), timeout]);
  clearTimeout(timer);
  client.close();
}
