// The statements that claim follow-up work, kept together because correctness rests on them.
//
// claimFollowupStep: a send happens only after its (follow-up, step) row was inserted here, and
// `followup_send_attempts` has a unique key on (followup_id, step): of any number of concurrent
// pings or retries, exactly one insert succeeds and only that caller talks to SMTP. The same
// transaction holds a per-client advisory lock while it checks that the client got no automatic
// email today, so two runs cannot each send that client a different follow-up on the same day
// (the lock is released at commit; on PGlite transactions already run one at a time).
//
// recordHandOver: written when the server has accepted the envelope, just before the message goes.
// It only succeeds on the claimer's own row still `sending` and not handed over, so a run that
// outlived its lease (its row was released meanwhile) learns it here and does not send.
//
// releaseAttemptsNeverHandedOver / markStaleAttemptsUncertain: an attempt still `sending` after its
// lease means the process died. Never handed over, it died before the server had any message
// (connecting, logging in, giving the envelope): the row is deleted, and the step is claimed again
// like any due step. Handed over, it may have been delivered: it becomes `uncertain` for an
// operator. Each statement re-checks its conditions on the rows it locks, so of two runs only one
// moves a given row, and a hand-over and a release of the same row cannot both succeed.

import { and, eq, inArray, isNotNull, isNull, lt, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { type FollowupChannelName, followupSendAttempts } from "../db/schema.js";

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
  /** Email unless said: the per-client day counts every channel. */
  channel?: FollowupChannelName;
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
        channel: claim.channel ?? "email",
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

/**
 * Records that attempt `attemptId` is being handed to the server. False when the attempt is no
 * longer this caller's to send (released after its lease): the message must not be written then.
 */
export async function recordHandOver(db: Db, attemptId: number, at: Date): Promise<boolean> {
  const marked = await db
    .update(followupSendAttempts)
    .set({ handedOverAt: at, updatedAt: at })
    .where(and(eq(followupSendAttempts.id, attemptId), eq(followupSendAttempts.state, "sending"), isNull(followupSendAttempts.handedOverAt)))
    .returning({ id: followupSendAttempts.id });
  return marked.length > 0;
}

/**
 * Deletes attempts stuck in `sending` past their lease that were never handed over (the server
 * never got their message), so their steps are sent again; returns how many.
 */
export async function releaseAttemptsNeverHandedOver(db: Db, now: Date): Promise<number> {
  const released = await db
    .delete(followupSendAttempts)
    .where(and(eq(followupSendAttempts.state, "sending"), lt(followupSendAttempts.leaseUntil, now), isNull(followupSendAttempts.handedOverAt)))
    .returning({ id: followupSendAttempts.id });
  return released.length;
}

/** Moves handed-over attempts stuck in `sending` past their lease to `uncertain`; returns them. */
export async function markStaleAttemptsUncertain(db: Db, now: Date): Promise<StaleAttempt[]> {
  return db
    .update(followupSendAttempts)
    .set({
      state: "uncertain",
      error: "interrupted while handing the email to SMTP: it may have been sent",
      finishedAt: now,
      updatedAt: now,
    })
    .where(and(eq(followupSendAttempts.state, "sending"), lt(followupSendAttempts.leaseUntil, now), isNotNull(followupSendAttempts.handedOverAt)))
    .returning({
      id: followupSendAttempts.id,
      companyId: followupSendAttempts.companyId,
      followupId: followupSendAttempts.followupId,
      step: followupSendAttempts.step,
      recipient: followupSendAttempts.recipient,
      messageId: followupSendAttempts.messageId,
    });
}
