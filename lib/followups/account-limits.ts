// What a sending account may still send, by its provider's limits, and the waits its provider
// imposed. Two rules:
// - Pacing: an account sends at most its limits (messages a minute, an hour, a day: its provider's
//   published figures from lib/mail/known-providers.ts, else the company's `sending_limits`, else
//   SMTP_MAX_PER_* for the global relay). What was sent is counted from `followup_send_attempts`
//   (`sender_key`, `started_at`), inside the claim's transaction under a lock on the account
//   (claim-followups.ts), so the count holds across runs and concurrent pings; a step over the limit
//   is not claimed and stays due for the next run.
// - Quota waits: a provider that answers with its quota (SendingQuotaError) is believed, whatever
//   our count said (the owner's own mail counts too): the account waits until the window is over,
//   recorded in `sending_account_waits`, and sends nothing before; its follow-ups stay due.

import { and, count, desc, eq, gt, sql } from "drizzle-orm";
import type { Db, DbOrTx } from "../db/client.js";
import { followupSendAttempts, sendingAccountWaits } from "../db/schema.js";
import type { SendingLimits } from "../mail/known-providers.js";

/** The windows a limit is counted over, longest last. */
const WINDOWS = [
  { name: "perMinute", ms: 60_000 },
  { name: "perHour", ms: 60 * 60_000 },
  { name: "perDay", ms: 24 * 60 * 60_000 },
] as const satisfies readonly { name: keyof SendingLimits; ms: number }[];

/**
 * How long an account waits after a quota answer. A daily quota: Microsoft 365 and Google both count
 * over a rolling 24 hours, so a day from the refusal is the first time it is surely over. A rate
 * (421 4.7.0, 452 4.5.3, an hourly cap): a minute, so the next run tries again, once.
 */
export const QUOTA_WAIT_MS = { day: 24 * 60 * 60_000, rate: 60_000 } as const;

/** An account's own limits with a company's override laid over them, field by field. */
export function effectiveLimits(provider: SendingLimits | undefined, override: SendingLimits | undefined): SendingLimits | undefined {
  const limits = { ...provider, ...Object.fromEntries(Object.entries(override ?? {}).filter(([, v]) => v !== undefined)) } as SendingLimits;
  return WINDOWS.some((w) => limits[w.name] !== undefined) ? limits : undefined;
}

/**
 * How many more messages the account `key` may send at `now` under `limits` (Infinity when it has
 * none). Run inside the claim's transaction, after the account's lock is taken.
 */
export async function remainingAllowance(tx: DbOrTx, key: string, limits: SendingLimits | undefined, now: Date): Promise<number> {
  let remaining = Number.POSITIVE_INFINITY;
  for (const window of WINDOWS) {
    const limit = limits?.[window.name];
    if (limit === undefined) continue;
    const since = new Date(now.getTime() - window.ms);
    const [row] = await tx
      .select({ sent: count() })
      .from(followupSendAttempts)
      .where(and(eq(followupSendAttempts.senderKey, key), gt(followupSendAttempts.startedAt, since)));
    remaining = Math.min(remaining, Math.max(0, limit - (row?.sent ?? 0)));
  }
  return remaining;
}

export interface QuotaWait {
  until: Date;
  reason: string;
}

/** The wait the provider imposed on account `key`, when it is not over at `now`. */
export async function quotaWaitOf(db: DbOrTx, key: string, now: Date): Promise<QuotaWait | undefined> {
  const [row] = await db
    .select({ until: sendingAccountWaits.until, reason: sendingAccountWaits.reason })
    .from(sendingAccountWaits)
    .where(and(eq(sendingAccountWaits.accountKey, key), gt(sendingAccountWaits.until, now)));
  return row;
}

export interface AccountQuotaWait extends QuotaWait {
  accountKey: string;
  companyId: number | null;
  integrationId: number | null;
}

/** The accounts waiting for their provider's quota at `now`, the longest wait first (the operator's page). */
export async function listQuotaWaits(db: DbOrTx, now: Date): Promise<AccountQuotaWait[]> {
  return db
    .select({
      accountKey: sendingAccountWaits.accountKey, companyId: sendingAccountWaits.companyId, integrationId: sendingAccountWaits.integrationId,
      until: sendingAccountWaits.until, reason: sendingAccountWaits.reason,
    })
    .from(sendingAccountWaits)
    .where(gt(sendingAccountWaits.until, now))
    .orderBy(desc(sendingAccountWaits.until));
}

/** Records that account `key` waits `scope`'s time from `now` (the later end wins when one is already recorded). */
export async function recordQuotaWait(
  db: Db,
  wait: { key: string; companyId: number | null; integrationId: number | null; scope: keyof typeof QUOTA_WAIT_MS; reason: string; now: Date },
): Promise<Date> {
  const until = new Date(wait.now.getTime() + QUOTA_WAIT_MS[wait.scope]);
  const [row] = await db
    .insert(sendingAccountWaits)
    .values({ accountKey: wait.key, companyId: wait.companyId, integrationId: wait.integrationId, until, reason: wait.reason, createdAt: wait.now, updatedAt: wait.now })
    .onConflictDoUpdate({
      target: sendingAccountWaits.accountKey,
      set: {
        until: sql`greatest(${sendingAccountWaits.until}, excluded.until)`,
        reason: sql`excluded.reason`,
        companyId: sql`excluded.company_id`,
        integrationId: sql`excluded.integration_id`,
        updatedAt: sql`excluded.updated_at`,
      },
    })
    .returning({ until: sendingAccountWaits.until });
  return row?.until ?? until;
}
