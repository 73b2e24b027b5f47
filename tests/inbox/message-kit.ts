// Test helpers for the per-message import: a company with a mailbox, hand-built messages, an
// IncomingMessage around them, and a temporary attachment store.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Db } from "../../lib/db/client.js";
import { companies, inboxIntegrations } from "../../lib/db/schema.js";
import type { IncomingMessage } from "../../lib/inbox/incoming-message.js";
import { createLogger, type Logger } from "../../lib/log.js";
import { type AttachmentStorage, createLocalStorage } from "../../lib/storage/attachment-storage.js";

export const FIXTURES_DIR = new URL("../fixtures/eml/", import.meta.url);
export const CORPUS_DIR = new URL("../fixtures/corpus/spamscope/", import.meta.url);

export function readFixture(name: string): Promise<Buffer> {
  return readFile(new URL(name, FIXTURES_DIR));
}

export interface TestMailboxRow {
  id: number;
  companyId: number;
  emailAddress: string;
  connectedAt: Date;
}

/** A company with one IMAP integration whose own address is `contact@lokario.example`. */
export async function createCompanyWithMailbox(db: Db, name = "Atelier test"): Promise<TestMailboxRow> {
  const [company] = await db.insert(companies).values({ name }).returning({ id: companies.id });
  if (!company) throw new Error("no company");
  const emailAddress = "contact@lokario.example";
  const [integration] = await db
    .insert(inboxIntegrations)
    .values({ companyId: company.id, name: "Boîte principale", imapServer: "127.0.0.1", emailAddress })
    .returning({ id: inboxIntegrations.id, connectedAt: inboxIntegrations.connectedAt });
  if (!integration) throw new Error("no integration");
  return { id: integration.id, companyId: company.id, emailAddress, connectedAt: integration.connectedAt };
}

export interface EmlParts {
  from?: string;
  to?: string;
  subject?: string;
  date?: string;
  messageId?: string | null;
  inReplyTo?: string;
  references?: string;
  headers?: string[];
  body?: string;
}

/** A small UTF-8 text message; `messageId: null` leaves the header out. */
export function buildEml(parts: EmlParts = {}): Buffer {
  const lines = [
    `From: ${parts.from ?? "Jean Martin <jean.martin@client.example>"}`,
    `To: ${parts.to ?? "contact@lokario.example"}`,
    `Subject: ${parts.subject ?? "Demande de devis"}`,
    `Date: ${parts.date ?? "Mon, 03 Feb 2025 10:00:00 +0100"}`,
  ];
  if (parts.messageId !== null) lines.push(`Message-ID: ${parts.messageId ?? `<${Math.random().toString(36).slice(2)}@client.example>`}`);
  if (parts.inReplyTo) lines.push(`In-Reply-To: ${parts.inReplyTo}`);
  if (parts.references) lines.push(`References: ${parts.references}`);
  lines.push(...(parts.headers ?? []), "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit");
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${parts.body ?? "Bonjour, pouvez-vous m'envoyer un devis ?"}\r\n`, "utf8");
}

let nextUid = 1;

/** What the IMAP side would hand over for `source` (a fresh UID unless given). */
export function incoming(mailbox: TestMailboxRow, source: Buffer, extra: Partial<IncomingMessage> = {}): IncomingMessage {
  return {
    integration: { id: mailbox.id, companyId: mailbox.companyId, emailAddress: mailbox.emailAddress },
    folder: "INBOX",
    direction: "inbound",
    uidValidity: 1,
    uid: nextUid++,
    source,
    sizeBytes: source.length,
    internalDate: null,
    isOversize: false,
    isBackfill: false,
    ...extra,
  } as IncomingMessage;
}

export interface TempStorage {
  dir: string;
  storage: AttachmentStorage;
  remove(): Promise<void>;
}

/** A local attachment store in a fresh temporary directory. */
export async function createTempStorage(): Promise<TempStorage> {
  const root = await mkdtemp(join(tmpdir(), "lokario-attachments-"));
  const dir = join(root, "store");
  return { dir, storage: createLocalStorage(dir), remove: () => rm(root, { recursive: true, force: true }) };
}

/** A logger that keeps its lines, for asserting on what was (not) logged. */
export function bufferedLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger("test", { level: "debug", sink: (line) => lines.push(line) }), lines };
}
