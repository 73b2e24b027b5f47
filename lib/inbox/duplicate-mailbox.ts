// The same mailbox twice for one company: the rows in the way (same login on the same server, as the
// unique index `inbox_integrations_mailbox_key` compares them), the database's refusal of a second
// active one whichever driver raised it, and what to tell a person about either, naming the row.

import { and, asc, desc, eq, ne, sql } from "drizzle-orm";
import type { DbOrTx } from "../db/client.js";
import { inboxIntegrations, INTEGRATION_UNIQUE_INDEX } from "../db/schema.js";
import { JobError } from "../errors.js";

const UNIQUE_VIOLATION = "23505";

/** A company's row for a mailbox, as a person needs it named. */
export interface TwinMailbox {
  id: number;
  emailAddress: string | null;
  imapServer: string | null;
  isActive: boolean;
}

/** What identifies a mailbox to the unique index: its company, its login, its IMAP server. */
export interface MailboxLogin {
  companyId: number;
  login: string;
  imapServer: string;
}

/** The company's rows for `mailbox`, active ones first (then oldest first), leaving out `exceptId`. */
export async function findTwinMailboxes(db: DbOrTx, mailbox: MailboxLogin, exceptId?: number): Promise<TwinMailbox[]> {
  const t = inboxIntegrations;
  return db
    .select({ id: t.id, emailAddress: t.emailAddress, imapServer: t.imapServer, isActive: t.isActive })
    .from(t)
    .where(
      and(
        eq(t.companyId, mailbox.companyId),
        // The index's expressions, so that the rows found are exactly the ones it compares.
        sql`lower(coalesce(nullif(btrim(${t.imapUsername}), ''), btrim(${t.emailAddress}))) = lower(btrim(${mailbox.login}))`,
        sql`lower(btrim(${t.imapServer})) = lower(btrim(${mailbox.imapServer}))`,
        exceptId === undefined ? undefined : ne(t.id, exceptId),
      ),
    )
    .orderBy(desc(t.isActive), asc(t.id));
}

/** True when `err` (or one of its causes) is the unique violation of the mailbox index. */
export function isDuplicateMailboxError(err: unknown): boolean {
  // drizzle wraps the driver's error; node-postgres, Neon and PGlite all carry the SQLSTATE as `code`.
  for (let current = err, depth = 0; current && depth < 5; depth += 1) {
    const e = current as { code?: unknown; constraint?: unknown; message?: unknown; cause?: unknown };
    if (e.code === UNIQUE_VIOLATION && (e.constraint === INTEGRATION_UNIQUE_INDEX || String(e.message).includes(INTEGRATION_UNIQUE_INDEX))) {
      return true;
    }
    current = e.cause;
  }
  return false;
}

/**
 * The refusal of a second active row for `mailbox`: it names the row in the way (`twin`, when it
 * could be read) and how to change that one instead.
 */
export function duplicateMailboxError(mailbox: MailboxLogin, twin: TwinMailbox | undefined, cause?: unknown): JobError {
  const { companyId, login, imapServer } = mailbox;
  const inTheWay = twin
    ? `: integration ${twin.id} (${describeTwin(twin)}). Change that one instead (lokario-cron integrations update ${twin.id})`
    : ` (see: lokario-cron integrations list --company ${companyId})`;
  return new JobError(
    "bad-input",
    `company ${companyId} already has an active mailbox for ${login} on ${imapServer}${inTheWay}; ` +
      "a second row would sync the same mailbox twice",
    { cause },
  );
}

/** The refusal of a new row for a mailbox the company has disabled: turning that one on is what is meant. */
export function disabledTwinError(mailbox: MailboxLogin, twin: TwinMailbox): JobError {
  return new JobError(
    "bad-input",
    `company ${mailbox.companyId} already has this mailbox, disabled: integration ${twin.id} (${describeTwin(twin)}). ` +
      `Turn it back on with: lokario-cron integrations enable ${twin.id} (its mail and folder cursors are kept; ` +
      `change its settings first with: lokario-cron integrations update ${twin.id})`,
  );
}

/** `contact@x.fr on imap.x.fr, active`: the address, the server and the state. */
function describeTwin(twin: TwinMailbox): string {
  return `${twin.emailAddress ?? "no address"} on ${twin.imapServer ?? "no server"}, ${twin.isActive ? "active" : "disabled"}`;
}
