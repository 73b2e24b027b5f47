// A fresh Dovecot user per test, filled the way mail really arrives (IMAP APPEND from another client),
// read back on the server's side with doveadm (flags, UIDVALIDITY), plus the integration row that
// points the product at it.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { ImapFlow } from "imapflow";
import { inject } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import type { Db } from "../../lib/db/client.js";
import { companies, inboxIntegrations } from "../../lib/db/schema.js";
import { TEST_ENCRYPTION_KEY } from "./config.js";
import type { DovecotInfo } from "./dovecot.js";

const run = promisify(execFile);

export interface AppendOptions {
  flags?: string[];
  /** INTERNALDATE: when the server says it received the message. */
  internalDate?: Date;
  /** The folder it goes to (default INBOX): "Sent" is what a mail program files the business's mail in. */
  folder?: string;
}

export interface TestMailbox {
  user: string;
  password: string;
  dovecot: DovecotInfo;
  /** Delivers one message into INBOX and returns its UID. */
  append(raw: string | Buffer, options?: AppendOptions): Promise<number>;
  /** Delivers several messages over one connection, in order; returns their UIDs. */
  appendAll(messages: Array<{ raw: string | Buffer } & AppendOptions>): Promise<number[]>;
  /** Creates a folder, as a mail program does (Dovecot gives "Sent" and "Outgoing" the `\Sent` attribute). */
  createFolder(path: string): Promise<void>;
  /** Sets flags as another mail client would (e.g. reading a message in webmail). */
  addFlags(uid: number, flags: string[]): Promise<void>;
  /** The server's flags per UID, read with doveadm (not through IMAP, so nothing is touched). */
  flags(): Promise<Map<number, string[]>>;
  uidValidity(): Promise<number>;
  /** Gives INBOX a new UIDVALIDITY, as a server rebuilding its index does. */
  setUidValidity(value: number): Promise<void>;
}

/** Creates a Dovecot user with an empty INBOX. */
export async function createMailbox(): Promise<TestMailbox> {
  return (await createMailboxes(1))[0]!;
}

/**
 * Creates `count` Dovecot users with empty INBOXes, added to the passwd-file at once: one reload of
 * the file for all (each reload costs a second, see `addUser`), so a fleet of mailboxes is quick.
 */
export async function createMailboxes(count: number): Promise<TestMailbox[]> {
  const dovecot = inject("dovecot");
  const users = Array.from({ length: count }, () => ({
    user: `u${randomBytes(5).toString("hex")}@example.test`,
    password: `pw-${randomBytes(8).toString("hex")}`,
  }));
  addUser(join(dovecot.dir, "users"), users.map((u) => `${u.user}:{PLAIN}${u.password}\n`).join(""));
  const mailboxes = users.map((u) => mailboxOf(dovecot, u.user, u.password));
  // Every line went in with one write: once the last user can log in, they all can.
  await mailboxes[mailboxes.length - 1]?.ready();
  return mailboxes.map(({ ready: _ready, ...mailbox }) => mailbox);
}

function mailboxOf(dovecot: DovecotInfo, user: string, password: string): TestMailbox & { ready: () => Promise<void> } {
  const doveadm = (...args: string[]) => run("doveadm", ["-c", join(dovecot.dir, "dovecot.conf"), ...args]);

  const withClient = async <T>(fn: (client: ImapFlow) => Promise<T>): Promise<T> => {
    const client = new ImapFlow({
      host: "127.0.0.1", port: dovecot.tlsPort, secure: true, tls: { ca: dovecot.certPem, servername: "localhost" },
      auth: { user, pass: password }, logger: false, disableAutoIdle: true,
    });
    await client.connect().catch((err: unknown) => {
      const { responseText, executedCommand, code } = err as { responseText?: string; executedCommand?: string; code?: string };
      throw new Error(`test mailbox ${user}: connect failed: ${code} ${responseText ?? String(err)} (${executedCommand?.slice(0, 40)})`);
    });
    try {
      return await fn(client);
    } finally {
      await client.logout().catch(() => client.close());
    }
  };
  /**
   * Appends in order over one session. A session the server closed between two APPENDs (seen once
   * on a loaded machine) is opened again and the appending goes on: only when imapflow says the
   * command was never written (`execClosed`), so nothing is appended twice.
   */
  const appendAll: TestMailbox["appendAll"] = async (messages) => {
    const uids: number[] = [];
    for (let sessions = 1; ; sessions++) {
      const isDone = await withClient(async (client) => {
        for (const m of messages.slice(uids.length)) {
          const appended = await client.append(m.folder ?? "INBOX", m.raw, m.flags ?? [], m.internalDate).catch((err: unknown) => {
            const { responseText, executedCommand, code, rejectedFrom, reason } = err as {
              responseText?: string; executedCommand?: string; code?: string; rejectedFrom?: string; reason?: string;
            };
            if (code === "NoConnection" && rejectedFrom === "execClosed" && sessions < 3) return "closed" as const;
            throw new Error(`APPEND failed: ${responseText ?? String(err)} (${code ?? ""} ${rejectedFrom ?? ""} ${reason ?? ""} ${executedCommand?.slice(0, 80) ?? ""})`);
          });
          if (appended === "closed") return false;
          if (!appended || !appended.uid) throw new Error("APPEND did not return a UID");
          uids.push(appended.uid);
        }
        return true;
      });
      if (isDone) return uids;
    }
  };

  return {
    ready: () => waitForLogin(() => withClient(async () => {}), join(dovecot.dir, "users")),
    user, password, dovecot,
    append: async (raw, options = {}) => (await appendAll([{ raw, ...options }]))[0]!,
    appendAll,
    createFolder: (path) =>
      withClient(async (client) => {
        await client.mailboxCreate(path);
      }),
    addFlags: (uid, flags) =>
      withClient(async (client) => {
        const lock = await client.getMailboxLock("INBOX");
        try {
          await client.messageFlagsAdd(String(uid), flags, { uid: true });
        } finally {
          lock.release();
        }
      }),
    flags: async () => {
      const { stdout } = await doveadm("fetch", "-u", user, "uid flags", "mailbox", "INBOX", "all");
      return parseFetchOutput(stdout);
    },
    uidValidity: async () => {
      const { stdout } = await doveadm("mailbox", "status", "-u", user, "uidvalidity", "INBOX");
      return Number(/uidvalidity=(\d+)/.exec(stdout)?.[1]);
    },
    setUidValidity: async (value) => {
      await doveadm("mailbox", "update", "-u", user, "--uid-validity", String(value), "INBOX");
    },
  };
}

export interface IntegrationOptions {
  /** "starttls" (plain port, upgraded) or "tls" (implicit TLS port). */
  transport?: "starttls" | "tls";
  /** Another password than the mailbox's (a wrong one). */
  password?: string;
  /** Another port (a fault proxy in front of Dovecot). */
  port?: number;
  companyId?: number;
  values?: Partial<typeof inboxIntegrations.$inferInsert>;
}

/** Inserts a company (unless given) and an IMAP integration pointing at `mailbox`. */
export async function insertIntegration(
  db: Db,
  mailbox: TestMailbox,
  options: IntegrationOptions = {},
): Promise<{ companyId: number; integrationId: number }> {
  const companyId = options.companyId ?? (await db.insert(companies).values({ name: `Company of ${mailbox.user}` }).returning())[0]!.id;
  const isTls = (options.transport ?? "starttls") === "tls";
  const [row] = await db
    .insert(inboxIntegrations)
    .values({
      companyId,
      name: mailbox.user,
      imapServer: "127.0.0.1",
      imapPort: options.port ?? (isTls ? mailbox.dovecot.tlsPort : mailbox.dovecot.port),
      useSsl: isTls,
      // Dovecot's certificate is self-signed: the per-integration opt-out, as a self-hosted server would need.
      tlsRejectUnauthorized: false,
      emailAddress: mailbox.user,
      emailPassword: encryptSecret(options.password ?? mailbox.password, { encryptionKey: TEST_ENCRYPTION_KEY }),
      ...options.values,
    })
    .returning();
  return { companyId, integrationId: row!.id };
}

/** Parses doveadm's "uid: N\nflags: A B" blocks. */
function parseFetchOutput(stdout: string): Map<number, string[]> {
  const flags = new Map<number, string[]>();
  let uid: number | undefined;
  for (const line of stdout.split("\n")) {
    const uidMatch = /^uid: (\d+)/.exec(line);
    if (uidMatch) uid = Number(uidMatch[1]);
    const flagsMatch = /^flags:(.*)$/.exec(line);
    if (flagsMatch && uid !== undefined) flags.set(uid, flagsMatch[1]!.trim().split(/\s+/).filter(Boolean).sort());
  }
  return flags;
}

export interface RawMailOptions {
  subject?: string;
  from?: string;
  to?: string;
  /** Message-ID without brackets; `null` leaves the header out. */
  messageId?: string | null;
  date?: Date;
  body?: string;
  headers?: Record<string, string>;
}

/** A small RFC 5322 message (CRLF line ends), unique unless told otherwise. */
export function rawMail(options: RawMailOptions = {}): string {
  const unique = randomBytes(6).toString("hex");
  const headers: Record<string, string> = {
    From: options.from ?? "Client Test <client@example.test>",
    To: options.to ?? "contact@lokario.test",
    Subject: options.subject ?? `Demande ${unique}`,
    Date: (options.date ?? new Date()).toUTCString().replace("GMT", "+0000"),
    ...(options.messageId === null ? {} : { "Message-ID": `<${options.messageId ?? `${unique}@example.test`}>` }),
    "MIME-Version": "1.0",
    "Content-Type": "text/plain; charset=utf-8",
    ...options.headers,
  };
  const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join("\r\n");
  return `${head}\r\n\r\n${options.body ?? `Bonjour, ceci est le message ${unique}.`}\r\n`;
}

/**
 * Appends a passwd-file line. Dovecot reloads the file when its mtime changes, at one-second
 * resolution: a line added in the same second as the last reload would go unseen, so the mtime is
 * pushed past the previous one.
 */
function addUser(usersFile: string, line: string): void {
  appendFileSync(usersFile, line);
  bumpMtime(usersFile);
}

function bumpMtime(file: string): void {
  const { mtimeMs } = statSync(file);
  const next = new Date(Math.max(Date.now(), Math.floor(mtimeMs / 1000) * 1000 + 1000));
  utimesSync(file, next, next);
}

/** Waits until the new user can log in (another test file may have reset the mtime meanwhile). */
async function waitForLogin(login: () => Promise<void>, usersFile: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await login();
      return;
    } catch (err) {
      if (attempt >= 20) throw err;
      bumpMtime(usersFile);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
