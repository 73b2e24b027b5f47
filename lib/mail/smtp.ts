// Sending email over SMTP with nodemailer: `withSmtp(settings, fn)` opens a transport with timeouts
// and certificate checks, hands `fn` a session that sends one message at a time, and closes it in
// `finally`. Failures come out as JobErrors whose kind says what a caller should do:
//   transient  connection refused, timeout, TLS or DNS trouble, any 4xx reply: retry on a later run
//   permanent  a 5xx reply to the recipient or to the message itself: do not retry this message
//   auth       535 and other login failures, or 5xx to MAIL FROM (the account may not send as this
//              sender): the mailbox settings need fixing, nothing about this message is wrong

import { isIP } from "node:net";
import { createTransport, type Transporter } from "nodemailer";
import { JobError, shortReason } from "../errors.js";

/** Where and how to connect. `password` is already decrypted and never logged. */
export interface SmtpSettings {
  host: string;
  port: number;
  /** Implicit TLS (port 465). Otherwise STARTTLS, required when credentials travel off this host. */
  isSecure: boolean;
  user?: string;
  password?: string;
  rejectUnauthorized: boolean;
  timeoutMs: number;
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
  const transports = new Map<string, Transporter>();
  return {
    sessionFor(key, settings) {
      let transport = transports.get(key);
      if (!transport) {
        transport = openTransport(settings);
        transports.set(key, transport);
      }
      return sessionOver(transport);
    },
    closeAll() {
      for (const transport of transports.values()) transport.close();
      transports.clear();
    },
  };
}

function openTransport(settings: SmtpSettings): Transporter {
  const hasCredentials = Boolean(settings.user);
  return createTransport({
    // One connection, reused for the messages of a run, one message at a time.
    pool: true,
    maxConnections: 1,
    host: settings.host,
    port: settings.port,
    secure: settings.isSecure,
    // A password must not cross a network in clear: STARTTLS is mandatory then, except to a relay
    // on this very machine (a local Postfix listening on 127.0.0.1:25 often offers no TLS).
    requireTLS: !settings.isSecure && hasCredentials && !isLoopback(settings.host),
    auth: hasCredentials ? { user: settings.user!, pass: settings.password ?? "" } : undefined,
    tls: { rejectUnauthorized: settings.rejectUnauthorized, servername: isIP(settings.host) ? undefined : settings.host },
    connectionTimeout: settings.timeoutMs,
    greetingTimeout: settings.timeoutMs,
    socketTimeout: settings.timeoutMs,
    dnsTimeout: settings.timeoutMs,
  });
}

function sessionOver(transport: Transporter): SmtpSession {
  return {
    send: async (email) => {
      try {
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

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/**
 * True when the run should stop using this server: no SMTP reply at all, a refused login, or a 4xx
 * reply. A 4xx says "not now" (busy, greylisting, a rate limit); sending the run's next messages to
 * the same server would only collect more of them, and may prolong a rate limit.
 */
export function isServerFailure(err: JobError): boolean {
  return err.kind === "auth" || err.kind === "transient";
}
