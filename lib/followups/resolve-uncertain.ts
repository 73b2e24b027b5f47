// How an operator settles an `uncertain` send (see channels/send-email.ts): after looking its Message-ID up
// in the SMTP log or the sending mailbox's Sent folder, either it went out — record it exactly as a
// normal accepted send is recorded (record-send.ts) — or it did not — delete the attempt, so the
// next run sends the step again with a new Message-ID.
//
// The email's text is not kept on the attempt (only its subject and Message-ID), so the history row
// gets the step's email rendered again with the same template, as of the attempt's start.

import { and, asc, eq, sql } from "drizzle-orm";
import type { Config } from "../config.js";
import type { Db, DbOrTx } from "../db/client.js";
import { clients, type FollowupChannelName, followupHistory, followups, followupSendAttempts } from "../db/schema.js";
import { JobError } from "../errors.js";
import type { Logger } from "../log.js";
import { recordSentSms } from "./channels/record-sms-send.js";
import { type CompanyContext, loadCompany } from "./load-company.js";
import { recordSentFollowup } from "./record-send.js";
import { companyTemplateFor, renderFollowup, templateValuesOf, withFallbackEmail } from "./render.js";
import { kindOf } from "./select-candidates.js";
import { readSourceState } from "./source-state.js";

/** The history text of an SMS confirmed by an operator: the text itself is not kept on the attempt. */
export const SMS_TEXT_NOT_KEPT = "[SMS confirmé envoyé par un opérateur ; texte non conservé]";

/** What the SMTP reply column says for a send confirmed by an operator rather than by SMTP. */
export const OPERATOR_CONFIRMED_RESPONSE = "confirmed sent by an operator (SMTP log or Sent folder)";

export interface UncertainAttempt {
  id: number;
  followupId: number;
  companyId: number;
  step: number;
  recipient: string;
  subject: string;
  messageId: string;
  startedAt: Date;
  channel: FollowupChannelName;
}

const uncertainColumns = {
  id: followupSendAttempts.id,
  followupId: followupSendAttempts.followupId,
  companyId: followupSendAttempts.companyId,
  step: followupSendAttempts.step,
  recipient: followupSendAttempts.recipient,
  subject: followupSendAttempts.subject,
  messageId: followupSendAttempts.messageId,
  startedAt: followupSendAttempts.startedAt,
  channel: followupSendAttempts.channel,
};

/** Every attempt waiting for an operator's decision, oldest first. */
export async function listUncertainAttempts(db: Db): Promise<UncertainAttempt[]> {
  return db
    .select(uncertainColumns)
    .from(followupSendAttempts)
    .where(eq(followupSendAttempts.state, "uncertain"))
    .orderBy(asc(followupSendAttempts.startedAt), asc(followupSendAttempts.id));
}

/**
 * Records uncertain attempt `attemptId` as sent, in one transaction, with its own Message-ID and
 * start time. Throws `JobError("bad-input")` when the attempt does not exist or is not uncertain
 * (a second resolve is refused: the row is locked, so two at once cannot both record it).
 */
export async function resolveUncertainAsSent(
  db: Db,
  attemptId: number,
  deps: { config: Config; log: Logger },
): Promise<{ historyId: number; attempt: UncertainAttempt }> {
  return db.transaction(async (tx) => {
    const attempt = await lockUncertain(tx, attemptId);
    const followup = await readFollowupOf(tx, attempt);
    const company = await loadCompany(tx, deps.config, attempt.companyId, deps.log);
    const isLastAllowed = (await sendsOf(tx, attempt.followupId)) + 1 >= company.settings.maxRelances;
    const historyId = attempt.channel === "sms"
      ? await recordConfirmedSms(tx, attempt, isLastAllowed)
      : await recordConfirmedEmail(tx, { attempt, followup, company, isLastAllowed });
    return { historyId, attempt };
  });
}

/** Deletes uncertain attempt `attemptId` (it never left), so the next run sends the step again. */
export async function resolveUncertainAsNotSent(db: Db, attemptId: number): Promise<UncertainAttempt> {
  return db.transaction(async (tx) => {
    const attempt = await lockUncertain(tx, attemptId);
    await tx.delete(followupSendAttempts).where(and(eq(followupSendAttempts.id, attemptId), eq(followupSendAttempts.state, "uncertain")));
    return attempt;
  });
}

async function lockUncertain(db: DbOrTx, attemptId: number): Promise<UncertainAttempt> {
  const [row] = await db
    .select({ ...uncertainColumns, state: followupSendAttempts.state })
    .from(followupSendAttempts)
    .where(eq(followupSendAttempts.id, attemptId))
    .for("update");
  if (!row) throw new JobError("bad-input", `no send attempt ${attemptId}`);
  if (row.state !== "uncertain") throw new JobError("bad-input", `send attempt ${attemptId} is ${row.state}, not uncertain: nothing to resolve`);
  const { state: _state, ...attempt } = row;
  return attempt;
}

/** The follow-up of `attempt`, with its client; refused when either is gone. */
async function readFollowupOf(tx: DbOrTx, attempt: UncertainAttempt) {
  const [followup] = await tx
    .select({
      type: followups.type, sourceType: followups.sourceType, sourceId: followups.sourceId, sourceLabel: followups.sourceLabel,
      dueDate: followups.dueDate, amount: followups.amount, clientId: followups.clientId, clientName: clients.name,
    })
    .from(followups)
    .leftJoin(clients, and(eq(clients.id, followups.clientId), eq(clients.companyId, followups.companyId)))
    .where(eq(followups.id, attempt.followupId));
  if (!followup) throw new JobError("bad-input", `follow-up ${attempt.followupId} of attempt ${attempt.id} no longer exists`);
  const clientId = followup.clientId;
  if (clientId === null) throw new JobError("bad-input", `follow-up ${attempt.followupId} no longer has a client`);
  return { ...followup, clientId };
}

/** How many sends follow-up `followupId` has on record. */
async function sendsOf(tx: DbOrTx, followupId: number): Promise<number> {
  const [{ sends } = { sends: 0 }] = await tx
    .select({ sends: sql<number>`count(*)::int` })
    .from(followupHistory)
    .where(eq(followupHistory.followupId, followupId));
  return sends;
}

/** An SMS history row, as the channel writes it; its text was not kept, so the row says so. */
function recordConfirmedSms(tx: DbOrTx, attempt: UncertainAttempt, isLastAllowed: boolean): Promise<number> {
  return recordSentSms(tx, {
    attemptId: attempt.id, followupId: attempt.followupId, companyId: attempt.companyId, step: attempt.step,
    reference: attempt.messageId, recipient: attempt.recipient, text: SMS_TEXT_NOT_KEPT, provider: "operator",
    messageIds: [], response: OPERATOR_CONFIRMED_RESPONSE, sentAt: attempt.startedAt, isLastAllowed,
  });
}

/** An email history row, the step's email rendered again as of the attempt's start, under the attempt's subject. */
async function recordConfirmedEmail(
  tx: DbOrTx,
  { attempt, followup, company, isLastAllowed }: {
    attempt: UncertainAttempt;
    followup: Awaited<ReturnType<typeof readFollowupOf>>;
    company: CompanyContext;
    isLastAllowed: boolean;
  },
): Promise<number> {
  const senderResult = await company.sender();
  if ("unavailable" in senderResult) {
    throw new JobError("permanent", `the company's sender cannot be resolved (${senderResult.unavailable}): fix it, then resolve again`);
  }
  const sender = senderResult.sender;
  const source = await readSourceState(tx, { companyId: attempt.companyId, kind: kindOf(followup.type, followup.sourceType), ...followup });
  const open = source.state === "open" ? source : undefined;
  const dueDate = open?.dueDate ?? followup.dueDate ?? undefined;
  const template = companyTemplateFor(company.settings.templates, followup.type);
  const values = templateValuesOf({ candidate: followup, source: { documentNumber: open?.documentNumber, amount: open?.amount, dueDate }, company, now: attempt.startedAt });
  const email = renderFollowup({
    type: followup.type,
    isBeforeDue: dueDate !== undefined && attempt.startedAt.getTime() < dueDate.getTime(),
    template: template === "sms" ? undefined : template,
    values: withFallbackEmail(values, sender.replyTo ?? sender.from.address),
  });
  return recordSentFollowup(tx, {
    attemptId: attempt.id,
    followupId: attempt.followupId,
    companyId: attempt.companyId,
    clientId: followup.clientId,
    step: attempt.step,
    messageId: attempt.messageId,
    recipient: attempt.recipient,
    from: sender.from,
    integrationId: sender.integrationId,
    // The subject the client received is the one on the attempt, whatever the template says today.
    email: { ...email, subject: attempt.subject },
    smtpResponse: OPERATOR_CONFIRMED_RESPONSE,
    sentAt: attempt.startedAt,
    isLastAllowed,
  });
}
