// Recognises the database's refusal of a second active row for the same mailbox (the unique index
// `inbox_integrations_mailbox_key`), whichever driver raised it, so callers can say so plainly.

import { INTEGRATION_UNIQUE_INDEX } from "../db/schema.js";
import { JobError } from "../errors.js";

const UNIQUE_VIOLATION = "23505";

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

/** The error a caller shows for a duplicate: it names what is duplicated and how to find the other row. */
export function duplicateMailboxError(login: string, server: string, companyId: number, cause: unknown): JobError {
  return new JobError(
    "bad-input",
    `company ${companyId} already has an active mailbox for ${login} on ${server}: the same mailbox added twice would ` +
      `import every message twice (see: lokario-cron integrations list --company ${companyId})`,
    { cause },
  );
}
