// A real SMTP server for tests (smtp-server on a free loopback port) that keeps what it receives,
// parsed with mailparser, and can be told to misbehave: refuse a recipient (550) or defer it (451),
// answer 451 or 421 to every MAIL FROM, require a login, hold its greeting or its reply to a message it received, let the
// test decide each message's reply, or stop listening altogether (connection refused) and start
// again. It logs what clients did (connections, MAIL FROM, RSET, QUIT, replies to messages, closes)
// in order, and the name each client gave in EHLO.

import { type ParsedMail, simpleParser } from "mailparser";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { type FixtureScope, useFixture } from "./fixture.js";
import { freePort, waitFor } from "./ports.js";

export interface ReceivedMail {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
  /** The Message-ID header, with angle brackets. */
  messageId: string | undefined;
  /** The SMTP session (one client connection) it came on. */
  sessionId: string;
}

/** One thing the server saw or said, in the order it happened. */
export type SmtpServerEvent =
  | { type: "connect" | "mail-from" | "rset" | "quit" | "close"; sessionId: string }
  /** The reply to a received message (250 when accepted), logged as it is written. */
  | { type: "reply"; sessionId: string; code: number; to: string[] };

export interface TestSmtpServer {
  host: string;
  port: number;
  received: ReceivedMail[];
  /** Answer 550 to RCPT TO for this address (case-insensitive). */
  rejectRecipient(address: string): void;
  /** Answer 451 to RCPT TO for this address (a full mailbox) while on. */
  deferRecipient(address: string, isOn?: boolean): void;
  /** Answer `code` (451 unless told) to every MAIL FROM while on. */
  setTemporaryFailure(isOn: boolean, code?: number): void;
  /**
   * While set, answer every command of `stage` with this exact reply (a provider's own words, such as
   * Microsoft's "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException…"); undefined: normal again.
   */
  replyAt(stage: "mail-from" | "rcpt-to" | "data", reply: { code: number; text: string } | undefined): void;
  /** The names clients gave in EHLO (or HELO), one per session that sent MAIL FROM, in order. */
  heloNames: string[];
  /** Wait this long before accepting each message (a slow server). */
  setAcceptDelay(delayMs: number): void;
  /** While on, keep each received message without ever answering its final "." (a server hanging). */
  holdReplies(isOn: boolean): void;
  /** Accept new connections without greeting them, until `releaseGreetings()` greets them all. */
  holdGreetings(): void;
  releaseGreetings(): void;
  /** Only accept a login with these credentials (and refuse mail without it). */
  requireAuth(credentials: { user: string; password: string } | undefined): void;
  /**
   * Only accept XOAUTH2 logins whose token the authorization server says is active for this user
   * (RFC 7662 introspection, as Dovecot checks IMAP logins), and refuse mail without one.
   */
  requireOAuth2(introspection: { issuer: string; clientId: string; clientSecret: string } | undefined): void;
  /**
   * While set, answer every login (XOAUTH2 included) `535 <reply>`, as Microsoft 365 does to a tenant
   * with SMTP AUTH off ("5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled…").
   */
  refuseLogins(reply: string | undefined): void;
  /** The users that logged in with XOAUTH2, one entry per accepted login. */
  oauth2Logins: string[];
  /** Stop listening: clients get "connection refused" until `start()`. */
  stop(): Promise<void>;
  /** Listen again on the same port (a no-op when listening). */
  start(): Promise<void>;
  /** Mail received for `address`. */
  receivedBy(address: string): ReceivedMail[];
  /** The environment that points the product's global SMTP settings here. */
  env(from?: string): Record<string, string>;
  waitForMessages(count: number, timeoutMs?: number): Promise<void>;
  /** How many SMTP connections clients opened so far. */
  connectionCount(): number;
  /** The most client connections that were open at the same time. */
  peakConnections(): number;
  /** Connections, MAIL FROMs, RSETs, QUITs, replies to messages and closes, in order. */
  events: SmtpServerEvent[];
  /**
   * Lets `decide` choose the reply to each received message (undefined: the normal ones again): it
   * resolves to undefined to accept it, or to the code of a refusal (451, 554…). A refused message
   * is not kept in `received`.
   */
  decideReplies(decide: ((mail: ReceivedMail) => Promise<number | undefined>) | undefined): void;
  /** Resolves once the connection of `sessionId` is closed. */
  closed(sessionId: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * An SMTP server for the tests of a `describe` (call it there, or at the top of a file), started
 * before them (or before each with `scope: "test"`) and closed after them.
 */
export function useSmtpServer(options: { scope?: FixtureScope; what?: string } = {}): TestSmtpServer {
  return useFixture(options.what ?? "the SMTP server", {
    scope: options.scope,
    start: startSmtpServer,
    close: (server) => server.close(),
  });
}

/** The two servers follow-up tests send through: the operator's global one and a company mailbox's own. */
export function useGlobalAndOwnSmtp(): { global: TestSmtpServer; own: TestSmtpServer } {
  return { global: useSmtpServer({ what: "the global SMTP server" }), own: useSmtpServer({ what: "the mailbox's SMTP server" }) };
}

/** Starts a server on a free loopback port. */
export async function startSmtpServer(): Promise<TestSmtpServer> {
  const port = await freePort();
  const received: ReceivedMail[] = [];
  let connections = 0;
  let openConnections = 0;
  let peakConnections = 0;
  const events: SmtpServerEvent[] = [];
  const closedSessions = new Set<string>();
  const closeWaiters = new Map<string, (() => void)[]>();
  let decideReply: ((mail: ReceivedMail) => Promise<number | undefined>) | undefined;
  const rejected = new Set<string>();
  const deferred = new Set<string>();
  const heloNames: string[] = [];
  let failureCode: number | undefined;
  const stageReplies = new Map<"mail-from" | "rcpt-to" | "data", { code: number; text: string }>();
  const replyError = (reply: { code: number; text: string }) => Object.assign(new Error(reply.text), { responseCode: reply.code });
  let acceptDelayMs = 0;
  let isHoldingReplies = false;
  let heldGreetings: (() => void)[] | undefined;
  let credentials: { user: string; password: string } | undefined;
  let introspection: { issuer: string; clientId: string; clientSecret: string } | undefined;
  const oauth2Logins: string[] = [];
  let loginRefusal: string | undefined;
  let server: SMTPServer | undefined;

  const options = (): SMTPServerOptions => ({
    // Plain SMTP on loopback: the product sends no credentials in clear except to a local relay.
    disabledCommands: ["STARTTLS"],
    allowInsecureAuth: true,
    authOptional: true,
    // Its debug log is the only place smtp-server tells of the commands it has no hook for.
    logger: {
      debug(entry: { tnx?: string; cid?: string; command?: string }) {
        if (entry.tnx !== "command" || !entry.cid) return;
        if (entry.command === "RSET") events.push({ type: "rset", sessionId: entry.cid });
        if (entry.command === "QUIT") events.push({ type: "quit", sessionId: entry.cid });
      },
    },
    // No reverse DNS of 127.0.0.1 per connection: this machine has no resolver to ask, and each
    // lookup waited ~100 ms for nothing.
    disableReverseLookup: true,
    closeTimeout: 100,
    authMethods: ["PLAIN", "LOGIN", "XOAUTH2"],
    onAuth(auth, _session, callback) {
      if (loginRefusal !== undefined) return callback(Object.assign(new Error(loginRefusal), { responseCode: 535 }));
      if (auth.method === "XOAUTH2") {
        if (!introspection) return callback(Object.assign(new Error("XOAUTH2 not enabled"), { responseCode: 535 }));
        isActiveFor(introspection, auth.accessToken ?? "", auth.username ?? "").then(
          (isActive) => {
            if (!isActive) return callback(null, { data: { status: "401", schemes: "bearer" } });
            oauth2Logins.push(auth.username ?? "");
            return callback(null, { user: auth.username });
          },
          (err: Error) => callback(err),
        );
        return;
      }
      if (credentials && auth.username === credentials.user && auth.password === credentials.password) {
        return callback(null, { user: auth.username });
      }
      return callback(Object.assign(new Error("Authentication credentials invalid"), { responseCode: 535 }));
    },
    onConnect(session, callback) {
      connections++;
      openConnections++;
      peakConnections = Math.max(peakConnections, openConnections);
      events.push({ type: "connect", sessionId: session.id });
      if (heldGreetings) heldGreetings.push(() => callback());
      else callback();
    },
    onClose(session) {
      openConnections--;
      events.push({ type: "close", sessionId: session.id });
      closedSessions.add(session.id);
      for (const resolve of closeWaiters.get(session.id) ?? []) resolve();
      closeWaiters.delete(session.id);
    },
    onMailFrom(_address, session, callback) {
      if (!events.some((e) => e.type === "mail-from" && e.sessionId === session.id)) heloNames.push(session.hostNameAppearsAs);
      events.push({ type: "mail-from", sessionId: session.id });
      if (failureCode) return callback(Object.assign(new Error("Try again later"), { responseCode: failureCode }));
      const mailReply = stageReplies.get("mail-from");
      if (mailReply) return callback(replyError(mailReply));
      if ((credentials || introspection) && !session.user) return callback(Object.assign(new Error("Authentication required"), { responseCode: 530 }));
      return callback();
    },
    onRcptTo(address, _session, callback) {
      const rcptReply = stageReplies.get("rcpt-to");
      if (rcptReply) return callback(replyError(rcptReply));
      if (rejected.has(address.address.toLowerCase())) {
        return callback(Object.assign(new Error("No such user here"), { responseCode: 550 }));
      }
      if (deferred.has(address.address.toLowerCase())) {
        return callback(Object.assign(new Error("Mailbox full, try again later"), { responseCode: 451 }));
      }
      return callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        const dataReply = stageReplies.get("data");
        if (dataReply) {
          events.push({ type: "reply", sessionId: session.id, code: dataReply.code, to: session.envelope.rcptTo.map((r) => r.address) });
          return callback(replyError(dataReply));
        }
        const raw = Buffer.concat(chunks);
        const to = session.envelope.rcptTo.map((r) => r.address);
        const reply = (code: number | undefined) => {
          events.push({ type: "reply", sessionId: session.id, code: code ?? 250, to });
          if (code === undefined) callback();
          else callback(Object.assign(new Error(code < 500 ? "Try again later" : "Message refused"), { responseCode: code }));
        };
        simpleParser(raw)
          .then(async (parsed) => {
            const mail: ReceivedMail = {
              envelope: { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "", to },
              raw,
              parsed,
              messageId: parsed.messageId,
              sessionId: session.id,
            };
            if (decideReply) {
              const code = await decideReply(mail);
              if (code === undefined) received.push(mail);
              reply(code);
              return;
            }
            received.push(mail);
            if (!isHoldingReplies) setTimeout(() => reply(undefined), acceptDelayMs);
          })
          .catch((err: Error) => callback(err));
      });
    },
  });

  const start = async () => {
    if (server) return;
    const instance = new SMTPServer(options());
    await new Promise<void>((resolve, reject) => {
      instance.server.once("error", reject);
      instance.listen(port, "127.0.0.1", () => resolve());
    });
    server = instance;
  };
  const stop = async () => {
    const instance = server;
    server = undefined;
    if (instance) await new Promise<void>((resolve) => instance.close(() => resolve()));
  };
  await start();

  return {
    host: "127.0.0.1",
    port,
    received,
    rejectRecipient: (address) => rejected.add(address.toLowerCase()),
    deferRecipient: (address, isOn = true) => {
      if (isOn) deferred.add(address.toLowerCase());
      else deferred.delete(address.toLowerCase());
    },
    setTemporaryFailure: (isOn, code = 451) => {
      failureCode = isOn ? code : undefined;
    },
    replyAt: (stage, reply) => {
      if (reply) stageReplies.set(stage, reply);
      else stageReplies.delete(stage);
    },
    heloNames,
    setAcceptDelay: (delayMs) => {
      acceptDelayMs = delayMs;
    },
    holdReplies: (isOn) => {
      isHoldingReplies = isOn;
    },
    holdGreetings: () => {
      heldGreetings ??= [];
    },
    releaseGreetings: () => {
      const held = heldGreetings ?? [];
      heldGreetings = undefined;
      for (const greet of held) greet();
    },
    requireAuth: (c) => {
      credentials = c;
    },
    requireOAuth2: (i) => {
      introspection = i;
    },
    refuseLogins: (reply) => {
      loginRefusal = reply;
    },
    oauth2Logins,
    stop,
    start,
    receivedBy: (address) => received.filter((m) => m.envelope.to.some((to) => to.toLowerCase() === address.toLowerCase())),
    env: (from = "Lokario <relances@lokario.test>") => ({
      SMTP_HOST: "127.0.0.1",
      SMTP_PORT: String(port),
      SMTP_SECURE: "false",
      SMTP_FROM: from,
      SMTP_TIMEOUT_MS: "3000",
    }),
    waitForMessages: (count, timeoutMs = 10_000) => waitFor(`${count} messages`, () => received.length >= count, timeoutMs),
    connectionCount: () => connections,
    peakConnections: () => peakConnections,
    events,
    decideReplies: (decide) => {
      decideReply = decide;
    },
    closed: (sessionId) => {
      if (closedSessions.has(sessionId)) return Promise.resolve();
      return new Promise<void>((resolve) => closeWaiters.set(sessionId, [...(closeWaiters.get(sessionId) ?? []), resolve]));
    },
    close: stop,
  };
}

/**
 * Asks the authorization server whether `token` is active and issued to `user` (RFC 7662), or to an
 * account given access to the shared mailbox `user` (the introspection's `shared_mailbox`).
 */
async function isActiveFor(introspection: { issuer: string; clientId: string; clientSecret: string }, token: string, user: string): Promise<boolean> {
  const response = await fetch(`${introspection.issuer}/token/introspection`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, client_id: introspection.clientId, client_secret: introspection.clientSecret }),
  });
  const answer = (await response.json()) as { active?: boolean; sub?: string; shared_mailbox?: string };
  return answer.active === true && (answer.sub === user || answer.shared_mailbox === user);
}
