// Changes a mailbox's settings (server, login, TLS, password, interval, sending settings) or turns
// it on and off, saying what the change does to its sync: a new server or login means new UIDs, so
// the folder cursors are dropped and the next sync starts again from the recent window, as for a
// mailbox connected now (what it held before is backfill).

import { and, eq, ne } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { type FolderRole, inboxFolderCursors, inboxIntegrations } from "../db/schema.js";
import { JobError } from "../errors.js";
import { imapLogin } from "../mail/imap.js";
import { duplicateMailboxError, findTwinMailboxes, isDuplicateMailboxError } from "./duplicate-mailbox.js";

const IMPLICIT_TLS_PORT = 993;
const STARTTLS_PORT = 143;

/** The sending settings; `null` clears one (the IMAP login, the IMAP password, discovery). */
export interface SmtpChanges {
  server?: string | null;
  port?: number | null;
  useSsl?: boolean | null;
  username?: string | null;
  /** Already encrypted. */
  password?: string | null;
}

/** What to change; absent fields are kept. */
export interface IntegrationChanges {
  name?: string;
  emailAddress?: string;
  imapUsername?: string | null;
  imapServer?: string;
  imapPort?: number;
  useSsl?: boolean;
  tlsRejectUnauthorized?: boolean;
  syncIntervalMinutes?: number;
  /** Already encrypted. */
  emailPassword?: string;
  isPrimary?: boolean;
  isActive?: boolean;
  /** Which folders are synced (INBOX, the Sent folder); a folder turned on starts at its recent window. */
  syncedFolders?: FolderRole[];
  smtp?: SmtpChanges;
}

export interface IntegrationUpdate {
  id: number;
  companyId: number;
  /** The columns whose value changed. */
  changed: string[];
  /** How many folder cursors were dropped (server or login changed). */
  foldersReset: number;
  /** The port now in use, when the TLS mode changed and the port followed it. */
  portSwitchedTo?: number;
  /** The company's previous sending mailbox, when this one became primary. */
  previousPrimaryId?: number;
}

const CONNECTION_COLUMNS = ["imapServer", "imapPort", "useSsl", "tlsRejectUnauthorized", "emailAddress", "imapUsername", "emailPassword"];

/**
 * Applies `changes` to integration `id`. Throws `JobError("bad-input")` when it does not exist or
 * when the change would make it a second active row for the same mailbox.
 */
export async function updateIntegration(db: Db, id: number, changes: IntegrationChanges, now: Date): Promise<IntegrationUpdate> {
  try {
    return await db.transaction(async (tx) => {
      const t = inboxIntegrations;
      const [row] = await tx.select().from(t).where(eq(t.id, id)).for("update");
      if (!row) throw new JobError("bad-input", `integration ${id} does not exist (see: lokario-cron integrations list)`);

      const wanted: Partial<typeof t.$inferInsert> = {
        name: changes.name,
        emailAddress: changes.emailAddress,
        imapUsername: changes.imapUsername,
        imapServer: changes.imapServer,
        imapPort: changes.imapPort,
        useSsl: changes.useSsl,
        tlsRejectUnauthorized: changes.tlsRejectUnauthorized,
        syncIntervalMinutes: changes.syncIntervalMinutes,
        emailPassword: changes.emailPassword,
        isPrimary: changes.isPrimary,
        isActive: changes.isActive,
        syncedFolders: changes.syncedFolders && changes.syncedFolders.join(",") !== row.syncedFolders.join(",") ? changes.syncedFolders : undefined,
        smtpServer: changes.smtp?.server,
        smtpPort: changes.smtp?.port,
        smtpUseSsl: changes.smtp?.useSsl,
        smtpUsername: changes.smtp?.username,
        smtpPassword: changes.smtp?.password,
      };
      // The port follows a change of TLS mode when it was the old mode's standard port (993 ↔ 143).
      let portSwitchedTo: number | undefined;
      if (changes.useSsl !== undefined && changes.useSsl !== row.useSsl && changes.imapPort === undefined) {
        const oldDefault = row.useSsl ? IMPLICIT_TLS_PORT : STARTTLS_PORT;
        if ((row.imapPort ?? oldDefault) === oldDefault) wanted.imapPort = portSwitchedTo = changes.useSsl ? IMPLICIT_TLS_PORT : STARTTLS_PORT;
      }
      const set: Record<string, unknown> = {};
      for (const [column, value] of Object.entries(wanted)) {
        // The password is compared as ciphertext (always new): a re-typed password counts as a change.
        if (value !== undefined && value !== row[column as keyof typeof row]) set[column] = value;
      }
      const changed = Object.keys(set);
      if (changed.length === 0) return { id, companyId: row.companyId, changed, foldersReset: 0 };

      const after = { ...row, ...set } as typeof row;
      const isNewMailbox =
        (after.imapServer ?? "").trim().toLowerCase() !== (row.imapServer ?? "").trim().toLowerCase() ||
        imapLogin(after)?.toLowerCase() !== imapLogin(row)?.toLowerCase();
      let foldersReset = 0;
      if (isNewMailbox) {
        // UIDs are per server and per account: a cursor kept across the change would skip or misplace
        // mail. Messages already stored stay; their dedupe keys keep the re-import from doubling them.
        const dropped = await tx.delete(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, id)).returning({ id: inboxFolderCursors.id });
        foldersReset = dropped.length;
        // Another account is connected now: what it already held is backfill, not new mail.
        set.connectedAt = now;
      }
      // New connection settings, or a mailbox turned back on, deserve a try now and a clean record:
      // the old failures were about the old settings.
      if (changed.some((c) => CONNECTION_COLUMNS.includes(c)) || set.isActive === true) {
        Object.assign(set, { consecutiveFailures: 0, authFailures: 0, failingSince: null, nextSyncAt: null });
      }
      let previousPrimaryId: number | undefined;
      if (set.isPrimary === true) {
        // One sending mailbox per company.
        const previous = await tx
          .update(t)
          .set({ isPrimary: false, updatedAt: now })
          .where(and(eq(t.companyId, row.companyId), eq(t.isPrimary, true), ne(t.id, id)))
          .returning({ id: t.id });
        previousPrimaryId = previous[0]?.id;
      }
      await tx.update(t).set({ ...set, updatedAt: now }).where(eq(t.id, id));
      return { id, companyId: row.companyId, changed, foldersReset, portSwitchedTo, previousPrimaryId };
    });
  } catch (err) {
    if (isDuplicateMailboxError(err)) throw await duplicateOf(db, id, changes, err);
    throw err;
  }
}

async function duplicateOf(db: Db, id: number, changes: IntegrationChanges, cause: unknown): Promise<JobError> {
  const [row] = await db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id));
  const login = imapLogin({
    imapUsername: changes.imapUsername === undefined ? row?.imapUsername ?? null : changes.imapUsername,
    emailAddress: changes.emailAddress ?? row?.emailAddress ?? null,
  });
  const mailbox = { companyId: row?.companyId ?? 0, login: login ?? "?", imapServer: changes.imapServer ?? row?.imapServer ?? "?" };
  const [twin] = row ? (await findTwinMailboxes(db, mailbox, id)).filter((t) => t.isActive) : [];
  return duplicateMailboxError(mailbox, twin, cause);
}
