// The SMTP sender (`mail-sender.ts`), with nodemailer: `withSmtp(settings, fn)` opens connections with timeouts
// and certificate checks, hands `fn` a session that sends one message per connection at a time
// (telling the caller the moment a message is handed over), and closes them in `finally`; a run
// keeps them across its sends with `createSmtpSessions()`. Failures come out as JobErrors whose
// kind says what a caller should do:
//   transient  connection refused, timeout, TLS or DNS trouble, any 4xx reply: retry on a later run
//              (a 4xx to RCPT TO but 421 defers that recipient only: isServerFailure, isRecipientDeferral)
//   permanent  a 5xx reply to the recipient or to the message itself: do not retry this message
//   auth       535 and other login failures, 5xx to MAIL FROM (the account may not send as this
//              sender), or a server address that is not allowed (mail-host-guard.ts): the mailbox
//              settings need fixing, nothing about this message is wrong
// A provider's sending quota (SendingQuotaError), at whatever stage and whatever its code, is
// transient and about the account: it must wait, the message is not refused (sendingQuotaOf).

import { isIP } from "node:net";
import { Readable } from "node:stream";
import MailComposer from "nodemailer/lib/mail-composer";
import SMTPConnection from "nodemailer/lib/smtp-connection";
import XOAuth2 from "nodemailer/lib/xoauth2";
import type { MailHostPolicy } from "../config.js";
import { ERROR_KINDS, JobError, shortReason } from "../errors.js";
import type { MailLogin } from "./credentials.js";
import type { ComposedEmail, MailSender, OutgoingEmail, SendAccepted, SendOptions } from "./mail-sender.js";
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
  /**
   * Connections a run keeps open to this account at most, each carrying one message at a time:
   * the number of messages it sends at once (sender.ts chooses it per kind of account).
   */
  maxConnections: number;
  /**
   * The name given in EHLO: the deployment's public host name (config.smtpHeloName). Unset, or an
   * address: the domain of the message's sender. Never an address literal, which strict relays refuse.
   */
  heloName?: string;
}

/** An SMTP account's sender: one message per connection at a time (see `createSmtpSessions`). */
export type SmtpSession = MailSender;

/** Runs `fn` with an SMTP session and always releases the connection. */
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
  /**
   * The session of the account named `key` (connected on first use with `settings`). It may be
   * given up to `settings.maxConnections` messages at once, each on a connection of its own.
   */
  sessionFor(key: string, settings: SmtpSettings): SmtpSession;
  closeAll(): void;
}

/**
 * Sessions that keep each account's connections open across a run's sends. A fresh connection per
 * email cost the greeting wait of each SMTP server (about 100 ms for many, deliberately: an
 * "early talker" check) plus the handshake; kept connections remove that from every send but the
 * first of each. A connection is opened again when the server closed it between messages, and
 * after any failure (a failed exchange may leave the session in any state).
 *
 * nodemailer's SMTPConnection is driven directly rather than through a transport, because only
 * there is the hand-over point visible: it writes the message stream only after the envelope was
 * accepted, so the stream's first read is that point.
 */
export function createSmtpSessions(): SmtpSessions {
  const accounts = new Map<string, AccountPool>();
  return {
    sessionFor(key, settings) {
      let account = accounts.get(key);
      if (!account) {
        account = new AccountPool(settings);
        accounts.set(key, account);
      }
      return account;
    },
    closeAll() {
      for (const account of accounts.values()) account.close();
      accounts.clear();
    },
  };
}

/**
 * The kept connections of one account, at most `maxConnections`: a message goes out on an idle one,
 * else on a new one while there are fewer than that, else waits for one to be free. The one used
 * last is taken first, so an account sending one message at a time keeps a single connection open.
 */
class AccountPool implements SmtpSession {
  private readonly idle: AccountConnection[] = [];
  private readonly all: AccountConnection[] = [];
  private readonly waiting: ((connection: AccountConnection) => void)[] = [];

  constructor(private readonly settings: SmtpSettings) {}

  async send(email: OutgoingEmail | ComposedEmail, options: SendOptions = {}): Promise<SendAccepted> {
    // Built before a connection is taken: the connection is held only for the exchange itself.
    const { envelope, raw } = "raw" in email ? email : await composeEmail(email);
    const connection = await this.take();
    try {
      return await connection.send(envelope, raw, options);
    } finally {
      this.giveBack(connection);
    }
  }

  close(): void {
    for (const connection of this.all) connection.close();
  }

  private async take(): Promise<AccountConnection> {
    const idle = this.idle.pop();
    if (idle) return idle;
    if (this.all.length < Math.max(1, this.settings.maxConnections)) {
      const connection = new AccountConnection(this.settings);
      this.all.push(connection);
      return connection;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private giveBack(connection: AccountConnection): void {
    const next = this.waiting.shift();
    if (next) next(connection);
    else this.idle.push(connection);
  }
}

/** One kept connection of an account, logged in, one message at a time. */
class AccountConnection {
  private connection: SMTPConnection | undefined;

  constructor(private readonly settings: SmtpSettings) {}

  async send(envelope: { from: string; to: string[] }, raw: Buffer, options: SendOptions): Promise<SendAccepted> {
    for (let isRetry = false; ; isRetry = true) {
      const isReused = this.connection !== undefined;
      let gate: HandOverGate | undefined;
      let connection: SMTPConnection | undefined;
      try {
        connection = this.connection ?? (await this.open(envelope.from));
        gate = new HandOverGate(raw, options.onHandOver);
        const info = await untilDone<SMTPConnection.SentMessageInfo>(connection, (done) =>
          connection!.send(envelope, gate!.stream, done),
        );
        // One recipient: the message is either accepted for it or not at all.
        if ((info.rejected ?? []).length > 0) throw new JobError("permanent", `recipient rejected: ${shortReason(info.response)}`);
        return { response: shortReason(info.response) };
      } catch (err) {
        if (gate?.handOverError !== undefined) {
          this.drop();
          throw gate.handOverError;
        }
        // The server refused the recipient and nothing else: the session is sound, and RSET brings
        // it back to the start of a message for the next one (RFC 5321 §4.1.1.5), instead of
        // dropping it without QUIT and paying a new greeting and login.
        if (connection && connection === this.connection && !gate?.isOpened && isRecipientRefusal(err)) await this.reset(connection);
        else this.drop();
        // A kept connection the server closed while idle fails before the envelope is accepted:
        // nothing was handed over, so the message may go through a fresh connection, once.
        if (isReused && !isRetry && !gate?.isOpened && !(err as { responseCode?: number }).responseCode) continue;
        throw smtpErrorOf(err);
      }
    }
  }

  /** RSET after a refused recipient; a session that refuses it is not used again. */
  private async reset(connection: SMTPConnection): Promise<void> {
    try {
      await untilDone<boolean>(connection, (done) => connection.reset(done));
    } catch {
      this.drop();
    }
  }

  close(): void {
    this.connection?.quit();
    this.connection = undefined;
  }

  private drop(): void {
    this.connection?.close();
    this.connection = undefined;
  }

  private async open(from: string): Promise<SMTPConnection> {
    const settings = this.settings;
    // The address check, before any connection: a company's server on the internal network is a
    // settings problem (auth), so its follow-ups wait instead of failing one by one.
    let target: MailTarget;
    try {
      target = await resolveMailHost(settings.host, settings.port, settings.hostPolicy, { timeoutMs: settings.timeoutMs });
    } catch (err) {
      throw err instanceof JobError ? new JobError("auth", err.message, { cause: err }) : err;
    }
    const login = settings.login ?? (settings.user ? { user: settings.user, pass: settings.password ?? "" } : undefined);
    const connection = new SMTPConnection({
      // The checked address: given an IP, nodemailer makes no lookup of its own that a rebinding DNS
      // answer could redirect. The certificate is still checked against the name (tls.servername).
      host: target.address,
      port: settings.port,
      name: heloNameOf(settings.heloName, from),
      secure: settings.isSecure,
      // A password must not cross a network in clear: STARTTLS is mandatory then, except to a relay
      // on this very machine (a local Postfix listening on 127.0.0.1:25 often offers no TLS).
      requireTLS: !settings.isSecure && login !== undefined && !isLoopback(target.address),
      tls: { rejectUnauthorized: settings.rejectUnauthorized, servername: target.servername },
      connectionTimeout: settings.timeoutMs,
      greetingTimeout: settings.timeoutMs,
      socketTimeout: settings.timeoutMs,
      dnsTimeout: settings.timeoutMs,
      logger: false,
    });
    // Errors also reach the pending step's callback or listener; without this one an error on an
    // idle connection would be unhandled. Either way the connection is not used again.
    connection.on("error", () => {
      if (this.connection === connection) this.connection = undefined;
    });
    connection.once("end", () => {
      if (this.connection === connection) this.connection = undefined;
    });
    try {
      await untilDone<void>(connection, (done) => connection.connect((err) => done(err ?? null)));
      if (login) await untilDone<void>(connection, (done) => connection.login(authOf(login), (err) => done(err ?? null)));
    } catch (err) {
      connection.close();
      throw err;
    }
    this.connection = connection;
    return connection;
  }
}

/** SMTPConnection's login: a password, or SASL XOAUTH2 with a ready access token. */
function authOf(login: MailLogin): SMTPConnection.AuthenticationCredentials | SMTPConnection.AuthenticationOAuth2 {
  if ("accessToken" in login) return { oauth2: new XOAuth2({ user: login.user, accessToken: login.accessToken }) };
  return { credentials: { user: login.user, pass: login.pass ?? "" } };
}

/**
 * The message as a stream SMTPConnection reads only once the envelope is accepted: its first read
 * awaits `onHandOver`, then yields the whole message, or fails without yielding a byte.
 */
class HandOverGate {
  readonly stream: Readable;
  /** True once the connection started reading the message (the envelope was accepted). */
  isOpened = false;
  handOverError: unknown;

  constructor(raw: Buffer, onHandOver: (() => Promise<void>) | undefined) {
    this.stream = new Readable({
      read: () => {
        if (this.isOpened) return;
        this.isOpened = true;
        (onHandOver ?? (async () => {}))().then(
          () => {
            this.stream.push(raw);
            this.stream.push(null);
          },
          (err: unknown) => {
            this.handOverError = err;
            this.stream.destroy(err instanceof Error ? err : new Error(String(err)));
          },
        );
      },
    });
  }
}

/**
 * Builds the full MIME message (headers, text and HTML parts) and its envelope, with no server
 * involved. nodemailer builds through streams, many event-loop turns: under load that took a third
 * of a send's time on a connection (bench/README.md), so a caller that waits for its turn on an
 * account builds the message before it.
 */
export async function composeEmail(email: OutgoingEmail): Promise<ComposedEmail> {
  const raw = await new MailComposer({
    from: email.from,
    replyTo: email.replyTo,
    to: email.to,
    subject: email.subject,
    text: email.text,
    html: email.html,
    messageId: email.messageId,
    ...(email.inReplyTo ? { inReplyTo: email.inReplyTo } : {}),
    ...(email.references?.length ? { references: email.references } : {}),
    headers: email.headers,
  })
    .compile()
    .build();
  return { envelope: { from: email.from.address, to: [email.to] }, raw };
}

/**
 * Runs one SMTPConnection step and settles with its callback, or with the connection's error or
 * end when those come first (a refused connection, for one, is only reported as an event).
 */
function untilDone<T>(connection: SMTPConnection, step: (done: (err: Error | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let isSettled = false;
    const settle = (err: Error | null, value?: T) => {
      if (isSettled) return;
      isSettled = true;
      connection.off("error", onError);
      connection.off("end", onEnd);
      if (err) reject(err);
      else resolve(value as T);
    };
    const onError = (err: Error) => settle(err);
    // A turn later: on a 421 nodemailer closes the connection first and reports the reply to the
    // step right after, and that reply (the server's reason, its code) is what should be told.
    const onEnd = () => setImmediate(() => settle(Object.assign(new Error("connection closed by the SMTP server"), { code: "ECONNECTION" })));
    connection.on("error", onError);
    connection.on("end", onEnd);
    step(settle);
  });
}

/**
 * A provider saying the account sent too much: it must wait (`scope`: its daily quota, or a rate
 * over a short window), and nothing about the message or its recipient is wrong.
 */
export class SendingQuotaError extends JobError {
  constructor(readonly scope: "day" | "rate", message: string, options?: { cause?: unknown }) {
    super("transient", message, options);
    this.name = "SendingQuotaError";
  }
}

/**
 * The providers' quota answers, as they write them (the enhanced status code alone is not enough:
 * 5.4.5 and 4.7.0 also mean other things, so each comes with its words):
 *   Microsoft 365  554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException
 *                  (the mailbox's recipients-a-day limit), 421 4.7.0 / 432 4.3.2 … rate limit (per minute)
 *   Gmail          550 5.4.5 Daily user sending quota exceeded / Daily sending quota exceeded,
 *                  421 4.7.0 … rate limited / Try again later … unusual rate
 *   any server     452 4.5.3 Too many recipients, 4xx … rate limit / quota … exceeded (hourly caps)
 */
export function sendingQuotaOf(err: unknown): "day" | "rate" | undefined {
  const e = (err ?? {}) as { responseCode?: number; response?: string; message?: string };
  if (!e.responseCode || e.responseCode < 400) return undefined;
  const text = `${e.response ?? ""} ${e.message ?? ""}`;
  // A recipient's full mailbox ("452 4.2.2 … over quota", "552 5.2.2 Mailbox full") is that recipient's.
  if (/\b[45]\.2\.2\b|over\s+quota|mailbox\s+(is\s+)?full/i.test(text)) return undefined;
  if (/SubmissionQuotaExceeded|daily\s+(user\s+)?sending\s+quota|\b5\.4\.5\b.*quota|sending\s+limit\s+exceeded/i.test(text)) return "day";
  if (/\b4\.5\.3\b|too\s+many\s+(recipients|messages)|rate[-\s]?limit|unusual\s+rate|sending\s+rate|(sending|submission|message|hourly)\s+quota/i.test(text)) return "rate";
  return undefined;
}

/** Turns anything nodemailer throws into a JobError with the right kind. */
export function smtpErrorOf(err: unknown): JobError {
  if (err instanceof JobError) return err;
  const e = (err ?? {}) as { code?: string; responseCode?: number; response?: string; command?: string; message?: string };
  const reply = e.responseCode ? `${e.response ?? e.responseCode}` : "";
  const reason = shortReason(reply || e.message || String(err));
  const options = { cause: err };
  const quota = sendingQuotaOf(err);
  if (quota) return new SendingQuotaError(quota, `SMTP sending quota reached: ${reason}`, options);
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

/**
 * The EHLO name: `configured` when it is a host name, else the sender's domain, else "localhost".
 * nodemailer's own default is this machine's name only when it is fully qualified, else the
 * literal `[127.0.0.1]`, which strict relays refuse (and which says nothing true from a cloud
 * function anyway).
 */
export function heloNameOf(configured: string | undefined, from: string): string {
  for (const name of [configured, from.slice(from.lastIndexOf("@") + 1)]) {
    const host = name?.trim().toLowerCase().replace(/\.$/, "");
    if (host && isHostName(host)) return host;
  }
  return "localhost";
}

/** A DNS host name with at least one dot, not an IPv4 address (nor anything with brackets or colons). */
function isHostName(name: string): boolean {
  return /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name) && !isIP(name);
}

/**
 * True when the server refused only the recipient for now: a 4xx reply to RCPT TO (a full mailbox,
 * a greylisted address), except 421, by which the server closes the whole session. The message
 * waits for a later run; the server and the session remain usable for other recipients.
 */
function isRecipientDeferral(err: unknown): boolean {
  const e = (err ?? {}) as { responseCode?: number };
  return isRecipientRefusal(err) && e.responseCode !== undefined && e.responseCode >= 400 && e.responseCode < 500;
}

/** A reply to RCPT TO refusing the recipient (4xx but 421, or 5xx): the session itself is sound. */
function isRecipientRefusal(err: unknown): boolean {
  const e = (err ?? {}) as { command?: string; responseCode?: number };
  return e.command === "RCPT TO" && typeof e.responseCode === "number" && e.responseCode >= 400 && e.responseCode !== 421;
}

function isLoopback(address: string): boolean {
  return address === "::1" || /^(::ffff:)?127\./i.test(address);
}

/**
 * True when the run should stop using this server: no SMTP reply at all, a refused login, or a 4xx
 * reply to the greeting, MAIL FROM, DATA or the message. Such a 4xx says "not now" (busy, a rate
 * limit); sending the run's next messages to the same server would only collect more of them, and
 * may prolong a rate limit. A 4xx to RCPT TO is about that recipient alone (a full mailbox): the
 * others still go through the server.
 */
export function isServerFailure(err: JobError): boolean {
  // A quota answer, even to RCPT TO (452 4.5.3), is about the account: nothing more through it.
  if (err instanceof SendingQuotaError) return true;
  if (isRecipientDeferral(err.cause)) return false;
  // The server or the account failed, not the message (lib/errors.ts: the kinds that refuse no item).
  return !ERROR_KINDS[err.kind].isItemRefused;
}
