// The interop matrix's view of a mailbox on any IMAP server: mail delivered the way it really arrives
// there (APPEND from another client, over implicit TLS), folders made as a mail program makes them,
// and the integration row that points the product at it over STARTTLS or implicit TLS.

import { randomBytes } from "node:crypto";
import { appendFileSync, statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import { inject } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import type { Db } from "../../lib/db/client.js";
import { companies, inboxIntegrations } from "../../lib/db/schema.js";
import { TEST_ENCRYPTION_KEY } from "../support/config.js";
import { type DovecotLayout, startDovecot } from "../support/dovecot.js";
import type { ImapTestServer, ImapUser } from "../support/imap-test-server.js";
import { createMailbox, type TestMailbox } from "../support/mailbox.js";

export interface MatrixMailbox extends ImapUser {
  server: ImapTestServer;
  /** Delivers messages in order into their folder (default INBOX), with their INTERNALDATE if given. */
  appendAll(messages: Array<{ raw: string | Buffer; folder?: string; internalDate?: Date }>): Promise<void>;
  createFolder(path: string): Promise<void>;
  /** INBOX's UIDVALIDITY as the server announces it (STATUS). */
  uidValidity(): Promise<number>;
}

export async function createMatrixMailbox(server: ImapTestServer): Promise<MatrixMailbox> {
  const credentials = await server.addUser();
  const withClient = async <T>(fn: (client: ImapFlow) => Promise<T>): Promise<T> => {
    const client = new ImapFlow({
      host: "127.0.0.1", port: server.tlsPort, secure: true, tls: { ca: server.certPem, servername: "localhost" },
      auth: { user: credentials.user, pass: credentials.password }, logger: false, disableAutoIdle: true,
    });
    await client.connect();
    try {
      return await fn(client);
    } catch (err) {
      const { responseText, executedCommand } = err as { responseText?: string; executedCommand?: string };
      throw new Error(`${server.name}: ${responseText ?? String(err)} (${executedCommand?.slice(0, 80)})`);
    } finally {
      await client.logout().catch(() => client.close());
    }
  };
  await withClient((client) => openReadWrite(client, "INBOX"));
  return {
    ...credentials,
    server,
    appendAll: (messages) =>
      withClient(async (client) => {
        for (const m of messages) {
          const appended = await client.append(m.folder ?? "INBOX", m.raw, [], m.internalDate);
          if (!appended) throw new Error(`APPEND to ${m.folder ?? "INBOX"} refused on ${server.name}`);
        }
        for (const folder of new Set(messages.map((m) => m.folder ?? "INBOX"))) await openReadWrite(client, folder);
      }),
    createFolder: (path) =>
      withClient(async (client) => {
        await client.mailboxCreate(path);
        await openReadWrite(client, path);
      }),
    uidValidity: () =>
      withClient(async (client) => {
        const status = await client.status("INBOX", { uidValidity: true });
        if (!status) throw new Error(`STATUS INBOX refused on ${server.name}`);
        return Number(status.uidValidity);
      }),
  };
}

/** Inserts a company and an IMAP integration pointing at `mailbox`. */
export async function insertMatrixIntegration(
  db: Db,
  mailbox: MatrixMailbox,
  transport: "starttls" | "tls",
): Promise<{ companyId: number; integrationId: number }> {
  const [company] = await db.insert(companies).values({ name: `Company of ${mailbox.user}` }).returning();
  const [row] = await db
    .insert(inboxIntegrations)
    .values({
      companyId: company!.id,
      name: mailbox.user,
      imapServer: "127.0.0.1",
      imapPort: transport === "tls" ? mailbox.server.tlsPort : mailbox.server.port,
      useSsl: transport === "tls",
      // Every server's certificate here is self-signed: the per-integration opt-out a self-hosted server needs.
      tlsRejectUnauthorized: false,
      emailAddress: mailbox.user,
      emailPassword: encryptSecret(mailbox.password, { encryptionKey: TEST_ENCRYPTION_KEY }),
    })
    .returning();
  return { companyId: company!.id, integrationId: row!.id };
}

/** The run's Dovecot (started once for the whole suite) seen as one server of the matrix. */
export function runDovecot(): ImapTestServer {
  const dovecot = inject("dovecot");
  const mailboxes = new Map<string, TestMailbox>();
  return {
    name: "Dovecot 2.3",
    port: dovecot.port,
    tlsPort: dovecot.tlsPort,
    certPem: dovecot.certPem,
    addUser: async () => {
      const mailbox = await createMailbox();
      mailboxes.set(mailbox.user, mailbox);
      return { user: mailbox.user, password: mailbox.password };
    },
    renumberInbox: async ({ user }) => {
      const mailbox = mailboxes.get(user)!;
      await mailbox.setUidValidity((await mailbox.uidValidity()) + 1000);
    },
    stop: async () => {},
  };
}

/** A Dovecot of its own with a provider's folder layout (`tests/support/dovecot.ts`), as a server of the matrix. */
export async function startDovecotLayout(layout: DovecotLayout): Promise<ImapTestServer> {
  const dovecot = await startDovecot(undefined, { layout });
  const usersFile = join(dovecot.dir, "users");
  return {
    name: `Dovecot 2.3, ${layout} layout`,
    port: dovecot.port,
    tlsPort: dovecot.tlsPort,
    certPem: dovecot.certPem,
    addUser: async () => {
      const credentials = { user: `u${randomBytes(5).toString("hex")}@example.test`, password: `pw-${randomBytes(8).toString("hex")}` };
      appendFileSync(usersFile, `${credentials.user}:{PLAIN}${credentials.password}\n`);
      // Dovecot reads the passwd-file again when its mtime changes, at one-second resolution.
      for (let attempt = 0; ; attempt++) {
        const { mtimeMs } = statSync(usersFile);
        const next = new Date(Math.max(Date.now(), Math.floor(mtimeMs / 1000) * 1000 + 1000));
        utimesSync(usersFile, next, next);
        if (await canLogIn(dovecot.tlsPort, dovecot.certPem, credentials)) return credentials;
        if (attempt >= 20) throw new Error(`${layout} Dovecot: ${credentials.user} cannot log in`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    stop: () => dovecot.stop(),
  };
}

async function canLogIn(port: number, certPem: string, credentials: ImapUser): Promise<boolean> {
  const client = new ImapFlow({
    host: "127.0.0.1", port, secure: true, tls: { ca: certPem, servername: "localhost" },
    auth: { user: credentials.user, pass: credentials.password }, logger: false, disableAutoIdle: true,
  });
  try {
    await client.connect();
    await client.logout();
    return true;
  } catch {
    client.close();
    return false;
  }
}

/**
 * The business's own mail program opens its folders read-write, as it does all day. imap4d writes a
 * folder's UIDVALIDITY down only then, and until it does, announces a new one at every read-only
 * EXAMINE (docs/interop.md): without this, every sync there would be a UIDVALIDITY change.
 */
async function openReadWrite(client: ImapFlow, folder: string): Promise<void> {
  await client.mailboxOpen(folder);
  await client.mailboxClose();
}
