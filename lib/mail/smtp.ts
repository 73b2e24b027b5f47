// Sending email over SMTP with nodemailer: `withSmtp(settings, fn)` opens a transport with timeouts
// and certificate checks, hands `fn` a session that sends one message at a time, and closes it in
// `finally`. Failures come out as JobErrors whose kind says what a caller should do:
//   transient  connection refused, timeout, TLS or DNS trouble, any 4xx reply: retry on a later run
//   permanent  a 5xx reply to the recipient or to the message itself: do not retry this message
//   auth       535 and other login failures, 5xx to MAIL FROM (the account may not send as this
//              sender), or a server address that is not allowed (mail-host-guard.ts): the mailbox
//              settings need fixing, nothing about this message is wrong

import { createTransport, type Transporter } from "nodemailer";
import type { MailHostPolicy } from "../config.js";
import { JobError, shortReason } from "../errors.js";
import type { MailLogin } from "./credentials.js";
import { type MailTarget, resolveMailHost } from "./mail-host-guard.js";

/** Where and how to connect. `password` is already decrypted and never logged. */
export interface SmtpSettings {
  host: string;
  port: number;
  /** Implicit TLS (port 465). Otherwise STARTTLS, required when credentials travel off this host. */
  isSecure: boolean;
  user?: string;
  password?: string;
  /** An OAuth2 login (SASL XOAUTH2), used instead of `user`/`password` when set. */
  login?: MailLogin;
  rejectUnauthorized: boolean;
  timeoutMs: number;
  /** Which servers `host` may be: config.mailHosts for a mailbox's own settings. */
  hostPolicy: MailHostPolicy;
}

export interface OutgoingEmail {
  from: { name: string; address: string };
  replyTo?: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** With angle brackets: "<id@domain>". */
  messageId: string;
  headers?: Record<string, string>;
}

export interface SmtpAccepted {
  /** The server's final reply, e.g. "250 2.0.0 Ok: queued as 4C1F2". */
  response: string;
}

export interface SmtpSession {
  send(email: OutgoingEmail): Promise<SmtpAccepted>;
}

/** Runs `fn` with an SMTP session and always releases the transport. */
export async function withSmtp<T>(settings: SmtpSettings, fn: (session: SmtpSession) => Promise<T>): Promise<T> {
  const sessions = createSmtpSessions();
  try {
    return await fn(sessions.sessionFor("single", settings));
  } finally {
    sessions.closeAll();
  }
}

/** One reusable session per SMTP account for the length of a run. */
export interface SmtpSessions {
  /** The session of the account named `key` (opened on first use with `settings`). */
  sessionFor(key: string, settings: SmtpSettings): SmtpSession;
  closeAll(): void;
}

/**
 * Sessions that keep one connection per account open across a run's sends. A fresh connection per
 * email cost the greeting wait of each SMTP server (about 100 ms for many, deliberately: an
 * "early talker" check) plus the handshake; one kept connection removes that from every send but
 * the first. nodemailer reconnects by itself when the server closes it between messages.
 */
export function createSmtpSessions(): SmtpSessions {
  // Opening includes the address check, done once per account and run: a refused server stays
  // refused for every message of the run without another lookup.
  const transports = new Map<string, Promise<Transporter>>();
  return {
    sessionFor(key, settings) {
      let transport = transports.get(key);
      if (!transport) {
        transport = openTransport(settings);
        // Awaited by each send; a failure to open must not surface as an unhandled rejection meanwhile.
        transport.catch(() => {});
        transports.set(key, transport);
      }
      return sessionOver(transport);
    },
    closeAll() {
      for (const transport of transports.values()) void transport.then((t) => t.close(), () => {});
      transports.clear();
    },
  };
}

async function openTransport(settings: SmtpSettings): Promise<Transporter> {
  let target: MailTarget;
  try {
    target = await resolveMailHost(settings.host, settings.port, settings.hostPolicy, { timeoutMs: settings.timeoutMs });
  } catch (err) {
    throw err instanceof JobError ? new JobError("auth", err.message, { cause: err }) : err;
  }
  const hasCredentials = Boolean(settings.login ?? settings.user);
  return createTransport({
    // One connection, reused for the messages of a run, one message at a time.
    pool: true,
    maxConnections: 1,
    // The checked address: given an IP, nodemailer makes no lookup of its own that a rebinding DNS
    // answer could redirect. The certificate is still checked against the name (tls.servername).
    host: target.address,
    port: settings.port,
    secure: settings.isSecure,
    // A password must not cross a network in clear: STARTTLS is mandatory then, except to a relay
    // on this very machine (a local Postfix listening on 127.0.0.1:25 often offers no TLS).
    requireTLS: !settings.isSecure && hasCredentials && !isLoopback(target.address),
    auth: hasCredentials ? transportAuth(settings) : undefined,
    tls: { rejectUnauthorized: settings.rejectUnauthorized, servername: target.servername },
    connectionTimeout: settings.timeoutMs,
    greetingTimeout: settings.timeoutMs,
    socketTimeout: settings.timeoutMs,
    dnsTimeout: settings.timeoutMs,
  });
}

/** nodemailer's auth: `type: "OAuth2"` with a ready access token logs in with XOAUTH2. */
function transportAuth(settings: SmtpSettings) {
  const login = settings.login ?? { user: settings.user!, pass: settings.password ?? "" };
  return "accessToken" in login ? { type: "OAuth2" as const, user: login.user, accessToken: login.accessToken } : login;
}

function sessionOver(opening: Promise<Transporter>): SmtpSession {
  return {
    send: async (email) => {
      try {
        const transport = await opening;
        const info = await transport.sendMail({
          from: email.from,
          replyTo: email.replyTo,
          to: email.to,
          subject: email.subject,
          text: email.text,
          html: email.html,
          messageId: email.messageId,
          headers: email.headers,
          // One recipient: the message is either accepted for it or not at all.
          envelope: { from: email.from.address, to: [email.to] },
        });
        if ((info.rejected ?? []).length > 0) throw new JobError("permanent", `recipient rejected: ${shortReason(info.response)}`);
        return { response: shortReason(info.response) };
      } catch (err) {
        throw smtpErrorOf(err);
      }
    },
  };
}

/** Turns anything nodemailer throws into a JobError with the right kind. */
export function smtpErrorOf(err: unknown): JobError {
  if (err instanceof JobError) return err;
  const e = (err ?? {}) as { code?: string; responseCode?: number; response?: string; command?: string; message?: string };
  const reply = e.responseCode ? `${e.response ?? e.responseCode}` : "";
  const reason = shortReason(reply || e.message || String(err));
  const options = { cause: err };
  if (e.code === "EAUTH" || e.code === "ENOAUTH" || e.responseCode === 535 || e.responseCode === 534 || e.responseCode === 530) {
    return new JobError("auth", `SMTP login refused: ${reason}`, options);
  }
  if (e.responseCode && e.responseCode >= 400 && e.responseCode < 500) return new JobError("transient", `SMTP ${reason}`, options);
  if (e.responseCode && e.responseCode >= 500) {
    if (e.command === "MAIL FROM") return new JobError("auth", `SMTP sender refused: ${reason}`, options);
    // 503 is a command out of sequence: the session went wrong, not the message.
    if (e.responseCode === 503) return new JobError("transient", `SMTP ${reason}`, options);
    return new JobError("permanent", `SMTP ${reason}`, options);
  }
  // A malformed address or message is refused before anything is sent: retrying cannot help.
  if (e.code === "EENVELOPE" || e.code === "EMESSAGE") return new JobError("permanent", `SMTP ${reason}`, options);
  return new JobError("transient", `SMTP unreachable: ${reason}`, options);
}

function isLoopback(address: string): boolean {
  return address === "::1" || /^(::ffff:)?127\./i.test(address);
}

/**
 * True when the failure is about the server or the account rather than one message (no SMTP reply
 * at all, or a refused login): the next message to the same server would fail the same way.
 */
export function isServerFailure(err: JobError): boolean {
  if (err.kind === "auth") return true;
  const cause = err.cause as { responseCode?: number } | undefined;
  return err.kind === "transient" && !cause?.responseCode;
}
