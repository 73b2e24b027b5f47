// The statements that claim follow-up work, kept together because correctness rests on them.
//
// claimFollowupStep: a send happens only after its (follow-up, step) row was inserted here, and
// `followup_send_attempts` has a unique key on (followup_id, step): of any number of concurrent
// pings or retries, exactly one insert succeeds and only that caller talks to SMTP. The same
// transaction holds a per-client advisory lock while it checks that the client got no automatic
// email today, so two runs cannot each send that client a different follow-up on the same day
// (the lock is released at commit; on PGlite transactions already run one at a time).
//
// markStaleAttemptsUncertain: an attempt still `sending` after its lease means the process died
// between talking to SMTP and recording the result. The UPDATE re-checks `state = 'sending'` on the
// row it locks, so of two runs only one moves a given row and reports it.

import { and, eq, inArray, lt, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { followupSendAttempts } from "../db/schema.js";

/** Arbitrary constant naming this product's per-client follow-up lock (first key of the pair). */
const CLIENT_LOCK_CLASS = 7_340_022;

/** States that mean an email went, or may have gone, to the client. */
export const CONTACTING_STATES = ["sending", "sent", "uncertain"] as const;

export interface StepClaim {
  followupId: number;
  companyId: number;
  clientId: number;
  step: number;
  messageId: string;
  recipient: string;
  subject: string;
  startedAt: Date;
  leaseUntil: Date;
  /** The client's current local day, [start, end): one automatic email per client per day. */
  clientDay: { startAt: Date; endAt: Date };
}

export type ClaimResult = { claimed: true; attemptId: number } | { claimed: false; reason: "step_taken" | "client_contacted_today" };

/** Records the attempt before SMTP is contacted; only a caller that gets `claimed: true` may send. */
export async function claimFollowupStep(db: Db, claim: StepClaim): Promise<ClaimResult> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${CLIENT_LOCK_CLASS}::int, ${claim.clientId}::int)`);
    const contacted = await tx
      .select({ id: followupSendAttempts.id })
      .from(followupSendAttempts)
      .where(
        and(
          eq(followupSendAttempts.clientId, claim.clientId),
          inArray(followupSendAttempts.state, [...CONTACTING_STATES]),
          sql`${followupSendAttempts.startedAt} >= ${claim.clientDay.startAt.toISOString()}::timestamptz`,
          sql`${followupSendAttempts.startedAt} < ${claim.clientDay.endAt.toISOString()}::timestamptz`,
        ),
      )
      .limit(1);
    if (contacted.length > 0) return { claimed: false, reason: "client_contacted_today" } as const;
    const inserted = await tx
      .insert(followupSendAttempts)
      .values({
        followupId: claim.followupId,
        companyId: claim.companyId,
        clientId: claim.clientId,
        step: claim.step,
        state: "sending",
        messageId: claim.messageId,
        recipient: claim.recipient,
        subject: claim.subject,
        leaseUntil: claim.leaseUntil,
        startedAt: claim.startedAt,
        updatedAt: claim.startedAt,
      })
      .onConflictDoNothing({ target: [followupSendAttempts.followupId, followupSendAttempts.step] })
      .returning({ id: followupSendAttempts.id });
    const row = inserted[0];
    return row ? ({ claimed: true, attemptId: row.id } as const) : ({ claimed: false, reason: "step_taken" } as const);
  });
}

export interface StaleAttempt {
  id: number;
  companyId: number;
  followupId: number;
  step: number;
  recipient: string;
  messageId: string;
}

/** Moves attempts stuck in `sending` past their lease to `uncertain` and returns those it moved. */
export async function markStaleAttemptsUncertain(db: Db, now: Date): Promise<StaleAttempt[]> {
  return db
    .update(followupSendAttempts)
    .set({
      state: "uncertain",
      error: "interrupted after contacting SMTP: the email may have been sent",
      finishedAt: now,
      updatedAt: now,
    })
    .where(and(eq(followupSendAttempts.state, "sending"), lt(followupSendAttempts.leaseUntil, now)))
    .returning({
      id: followupSendAttempts.id,
      companyId: followupSendAttempts.companyId,
      followupId: followupSendAttempts.followupId,
      step: followupSendAttempts.step,
      recipient: followupSendAttempts.recipient,
      messageId: followupSendAttempts.messageId,
    });
}
