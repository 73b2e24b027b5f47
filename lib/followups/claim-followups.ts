// The statements that claim follow-up work, kept together because correctness rests on them.
//
// claimFollowupSteps: a send happens only after its (follow-up, step) row was inserted here, and
// `followup_send_attempts` has a unique key on (followup_id, step): of any number of concurrent
// pings, workers or retries, exactly one insert succeeds and only that caller talks to SMTP. The
// same transaction holds a per-client advisory lock while it checks that the client got no
// automatic email today, so two runs (or two workers of one run) cannot each send that client a
// different follow-up on the same day (the locks are released at commit; on PGlite transactions
// already run one at a time). A batch of steps is claimed in one transaction: a handful of round
// trips for the batch instead of five per email.
//
// An email claim names its account (`account`): the same transaction then takes a lock on that
// account and counts what it sent in its limits' windows (account-limits.ts), and claims only as
// many steps as they still allow; two runs through one account (two companies on the global relay,
// two pings) count one after the other, so together they never exceed the limits.
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
import type { Db, DbOrTx } from "../db/client.js";
import { type FollowupChannelName, followupSendAttempts } from "../db/schema.js";
import type { SendingLimits } from "../mail/known-providers.js";
import { remainingAllowance } from "./account-limits.js";
import { startOfLocalDay } from "./local-time.js";

/** Arbitrary constant naming this product's per-client follow-up lock (first key of the pair). */
const CLIENT_LOCK_CLASS = 7_340_022;
/** The same, for the per-account sending-limit lock. */
const ACCOUNT_LOCK_CLASS = 7_340_023;

/** States that mean an email went, or may have gone, to the client. */
export const CONTACTING_STATES = ["sending", "sent", "uncertain"] as const;

/**
 * How long a `sending` attempt belongs to the run that claimed it. Longer than the slowest live
 * send (an SMTP exchange's connect, greeting and data timeouts of SMTP_TIMEOUT_MS each, 15 s by
 * default; an SMS submission's SMS_TIMEOUT_MS) plus the longest run budget (RUN_BUDGET_MS ≤ 15 min),
 * so a live send is never mistaken for a dead one.
 */
export const ATTEMPT_LEASE_MS = 20 * 60_000;

/** What the steps claimed together share: one company's run, at one instant. */
export interface ClaimContext {
  startedAt: Date;
  leaseUntil: Date;
  /** The clients' current local day, [start, end): one automatic email per client per day. */
  clientDay: { startAt: Date; endAt: Date };
}

/** The claim context of steps claimed at `now` for a company in `timeZone`. */
export function claimContextOf(now: Date, timeZone: string): ClaimContext {
  return {
    startedAt: now,
    leaseUntil: new Date(now.getTime() + ATTEMPT_LEASE_MS),
    clientDay: { startAt: startOfLocalDay(now, timeZone), endAt: startOfLocalDay(now, timeZone, 1) },
  };
}

export interface StepClaim {
  followupId: number;
  companyId: number;
  clientId: number;
  step: number;
  messageId: string;
  recipient: string;
  subject: string;
  /** Email unless said: the per-client day counts every channel. */
  channel?: FollowupChannelName;
  /** An SMS's account (`sms_parts.provider`) and sender: what its receipts and STOP answers are matched by. */
  sms?: { provider: string; sender: string };
}

export type ClaimResult =
  | { claimed: true; attemptId: number }
  | { claimed: false; reason: "step_taken" | "client_contacted_today" | "sending_limit_reached" };

/** The email account the claimed steps go through (Sender.key), and its sending limits if any. */
export interface ClaimAccount {
  key: string;
  limits?: SendingLimits;
}

/**
 * Records the attempts of `claims` before SMTP is contacted, in one transaction; only a claim that
 * comes back `claimed: true` may be sent. Results are in the order of `claims`. Of two claims for
 * the same client, only the first can succeed.
 */
export async function claimFollowupSteps(db: Db, context: ClaimContext, claims: StepClaim[], account?: ClaimAccount): Promise<ClaimResult[]> {
  if (claims.length === 0) return [];
  const clientIds = [...new Set(claims.map((c) => c.clientId))].sort((a, b) => a - b);
  return db.transaction(async (tx) => {
    // Locked in ascending order, so two runs claiming overlapping clients wait for each other
    // instead of deadlocking (volatile functions run after the subquery's sort, PostgreSQL ≥ 9.6).
    await tx.execute(sql`
      select count(pg_advisory_xact_lock(${CLIENT_LOCK_CLASS}::int, client_id))
      from (select client_id from (values ${sql.join(clientIds.map((id) => sql`(${id}::int)`), sql`, `)}) as v(client_id) order by client_id) as ordered`);
    const contactedRows = await tx
      .selectDistinct({ clientId: followupSendAttempts.clientId })
      .from(followupSendAttempts)
      .where(
        and(
          inArray(followupSendAttempts.clientId, clientIds),
          inArray(followupSendAttempts.state, [...CONTACTING_STATES]),
          sql`${followupSendAttempts.startedAt} >= ${context.clientDay.startAt.toISOString()}::timestamptz`,
          sql`${followupSendAttempts.startedAt} < ${context.clientDay.endAt.toISOString()}::timestamptz`,
        ),
      );
    const contacted = new Set(contactedRows.map((row) => row.clientId));
    // Taken after the client locks, always last and alone: no two claims wait on each other in a cycle.
    if (account?.limits) await tx.execute(sql`select pg_advisory_xact_lock(${ACCOUNT_LOCK_CLASS}::int, hashtext(${account.key}))`);
    let allowance = account?.limits ? await remainingAllowance(tx, account.key, account.limits, context.startedAt) : Number.POSITIVE_INFINITY;
    const overLimit = new Set<StepClaim>();
    const toInsert: StepClaim[] = [];
    for (const claim of claims) {
      if (contacted.has(claim.clientId)) continue;
      if (allowance <= 0) {
        overLimit.add(claim);
        continue;
      }
      allowance--;
      contacted.add(claim.clientId);
      toInsert.push(claim);
    }
    const inserted = toInsert.length === 0 ? [] : await tx
      .insert(followupSendAttempts)
      .values(toInsert.map((claim) => ({
        followupId: claim.followupId,
        companyId: claim.companyId,
        clientId: claim.clientId,
        step: claim.step,
        state: "sending" as const,
        channel: claim.channel ?? "email",
        messageId: claim.messageId,
        recipient: claim.recipient,
        subject: claim.subject,
        smsProvider: claim.sms?.provider ?? null,
        smsSender: claim.sms?.sender ?? null,
        senderKey: account?.key ?? null,
        leaseUntil: context.leaseUntil,
        startedAt: context.startedAt,
        updatedAt: context.startedAt,
      })))
      .onConflictDoNothing({ target: [followupSendAttempts.followupId, followupSendAttempts.step] })
      .returning({ id: followupSendAttempts.id, followupId: followupSendAttempts.followupId, step: followupSendAttempts.step });
    const attemptIdOf = new Map(inserted.map((row) => [`${row.followupId}:${row.step}`, row.id]));
    const isInserting = new Set(toInsert);
    return claims.map((claim): ClaimResult => {
      if (overLimit.has(claim)) return { claimed: false, reason: "sending_limit_reached" };
      if (!isInserting.has(claim)) return { claimed: false, reason: "client_contacted_today" };
      const attemptId = attemptIdOf.get(`${claim.followupId}:${claim.step}`);
      return attemptId === undefined ? { claimed: false, reason: "step_taken" } : { claimed: true, attemptId };
    });
  });
}

/** Claims one step alone (the SMS channel, which claims as it sends): see claimFollowupSteps. */
export async function claimFollowupStep(db: Db, claim: StepClaim & ClaimContext): Promise<ClaimResult> {
  const [result] = await claimFollowupSteps(db, claim, [claim]);
  return result!;
}

/**
 * Deletes claimed attempts that were never handed over (the run stopped before sending them: out
 * of time, or their server stopped answering), so the next run claims their steps again at once.
 */
export async function releaseUnsentAttempts(db: Db, attemptIds: number[]): Promise<void> {
  if (attemptIds.length === 0) return;
  await db
    .delete(followupSendAttempts)
    .where(and(inArray(followupSendAttempts.id, attemptIds), eq(followupSendAttempts.state, "sending"), isNull(followupSendAttempts.handedOverAt)));
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
export async function releaseAttemptsNeverHandedOver(db: DbOrTx, now: Date): Promise<number> {
  const released = await db
    .delete(followupSendAttempts)
    .where(and(eq(followupSendAttempts.state, "sending"), lt(followupSendAttempts.leaseUntil, now), isNull(followupSendAttempts.handedOverAt)))
    .returning({ id: followupSendAttempts.id });
  return released.length;
}

/** Moves handed-over attempts stuck in `sending` past their lease to `uncertain`; returns them. */
export async function markStaleAttemptsUncertain(db: DbOrTx, now: Date): Promise<StaleAttempt[]> {
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
