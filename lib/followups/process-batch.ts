// One batch of a run: a few follow-ups of one company, decided together just before they are sent.
// Their facts are read in a few queries (decide-followup.ts), the due steps claimed in one
// transaction (claim-followups.ts), then sent one after the other, each holding a slot of its SMTP
// account, and recorded one by one (send-followup.ts). A client's follow-ups always fall into the
// same batch, and only one of them is claimed per round: the others are decided again once the
// first is settled, exactly as if they came one after the other (sent → "already contacted today";
// refused for good → the next one may go).
//
// Batches of different companies that share an account (the global relay) send through it at once,
// up to its slots (account-slots.ts), each on a connection of its own. A 4xx, a refused login or
// no reply marks the account down the moment it is known: no send through it starts after that in
// this run (each checks, holding its slot, just before it starts), and its remaining follow-ups
// wait untouched for the next run. Sends already in flight on its other connections end with
// their own outcome: accepted → recorded as sent; refused → retried next run.

import type { FollowupChannelName } from "../db/schema.js";
import { kindOf as errorKindOf, shortReason } from "../errors.js";
import type { JobContext } from "../jobs/run-job.js";
import type { MailLogin } from "../mail/credentials.js";
import type { SmtpSessions } from "../mail/smtp.js";
import type { AccountSlots } from "./account-slots.js";
import type { SendOutcome } from "./channels/channel.js";
import { runSmsStep, type SmsRun } from "./channels/sms-step.js";
import { smsTemplateFor } from "./channels/sms.js";
import { claimFollowupSteps, releaseUnsentAttempts, type StepClaim } from "./claim-followups.js";
import { closeFollowup } from "./close-followup.js";
import { decideFollowups, type FollowupDecision } from "./decide-followup.js";
import type { CompanyContext } from "./load-company.js";
import { startOfLocalDay } from "./local-time.js";
import type { FollowupParams, FollowupSummary } from "./process-automatic.js";
import { companyTemplateFor, type RenderedEmail, renderFollowup, templateValuesOf } from "./render.js";
import type { FollowupCandidate } from "./select-candidates.js";
import { emailChannel } from "./channels/email.js";
import { ATTEMPT_LEASE_MS, composeFollowupEmail, newMessageId } from "./send-followup.js";
import type { Sender } from "./sender.js";

/** What the workers of one run share. */
export interface RunState {
  /** SMTP accounts that failed at the connection or login, or answered 4xx, this run: not tried again until the next. */
  downSenders: Set<string>;
  /** Dry runs: clients already given an email in the plan (one per client per day). */
  plannedClients: Set<number>;
  /** Kept SMTP connections, per sending account, for the whole run. */
  smtp: SmtpSessions;
  /** The run's SMS accounts (channels/sms-step.ts). */
  sms: SmsRun;
  /** How many sends go through one account at once (its SmtpSettings.maxConnections). */
  slots: AccountSlots;
  /** A company's name, settings and sender, read once per run. */
  companyOf(companyId: number): Promise<CompanyContext>;
  /** The OAuth2 login of a sender, asked for once per run (undefined for password logins). */
  loginOf(sender: Sender): Promise<MailLogin | undefined>;
  /** Keep this much of the budget for one last SMTP exchange to finish. */
  reserveMs: number;
}

/** A due step, rendered, waiting for its claim. */
interface DueEmail {
  candidate: FollowupCandidate & { clientId: number };
  step: number;
  recipient: string;
  email: RenderedEmail;
  isLastAllowed: boolean;
}

/** Decides, claims and sends `batch` (one company's follow-ups); counts everything in `summary`. */
export async function processBatch(
  ctx: JobContext,
  params: FollowupParams,
  summary: FollowupSummary,
  run: RunState,
  batch: FollowupCandidate[],
): Promise<void> {
  summary.examined += batch.length;
  const failAll = (candidates: FollowupCandidate[], err: unknown) => {
    // A database hiccup: count these follow-ups as failed, go on with the others.
    for (const candidate of candidates) {
      summary.failed++;
      summary.failures.push({ followupId: candidate.id, step: 0, kind: "transient", reason: shortReason(err) });
    }
    ctx.log.error("followups failed", { companyId: batch[0]!.companyId, count: candidates.length, error: shortReason(err) });
  };
  let company: CompanyContext;
  try {
    company = await run.companyOf(batch[0]!.companyId);
  } catch (err) {
    return failAll(batch, err);
  }
  for (let pending = batch; pending.length > 0; ) {
    const now = ctx.now();
    let decisions: Map<number, FollowupDecision>;
    try {
      decisions = await decideFollowups(ctx.db, pending.map((candidate) => ({ candidate, settings: company.settings, channel: channelOf(company, candidate) })), now);
    } catch (err) {
      return failAll(pending, err);
    }
    const due: DueEmail[] = [];
    const later: FollowupCandidate[] = [];
    const clientsThisRound = new Set<number>();
    let sender: Sender | undefined;
    for (const candidate of pending) {
      try {
        const outcome = await dueEmailOf(ctx, params, summary, run, candidate, decisions.get(candidate.id)!, company, now, clientsThisRound);
        if (outcome === "later") later.push(candidate);
        if (!outcome || outcome === "later") continue;
        if (clientsThisRound.has(outcome.due.candidate.clientId)) {
          later.push(candidate);
          continue;
        }
        clientsThisRound.add(outcome.due.candidate.clientId);
        due.push(outcome.due);
        sender = outcome.sender;
      } catch (err) {
        failAll([candidate], err);
      }
    }
    if (due.length > 0 && sender) {
      try {
        if (!(await sendDueEmails(ctx, summary, run, company, sender, due, now))) return;
      } catch (err) {
        failAll(due.map((item) => item.candidate), err);
      }
    }
    pending = later;
  }
}

/**
 * Applies a decision: closes, skips, plans (dry run), sends a text message (SMS), or returns the
 * email to send; "later" when the client already has a message in this round.
 */
async function dueEmailOf(
  ctx: JobContext,
  params: FollowupParams,
  summary: FollowupSummary,
  run: RunState,
  candidate: FollowupCandidate,
  { decision, source, recipient, sendCount }: FollowupDecision,
  company: CompanyContext,
  now: Date,
  clientsThisRound: Set<number>,
): Promise<{ due: DueEmail; sender: Sender } | "later" | undefined> {
  const skip = (reason: string) => {
    summary.skipped++;
    summary.skippedByReason[reason] = (summary.skippedByReason[reason] ?? 0) + 1;
    return undefined;
  };
  if (decision.kind === "skip" || decision.kind === "wait") return skip(decision.reason);
  if (decision.kind === "close") {
    if (!params.isDryRun) await closeFollowup(ctx.db, candidate.id, now);
    summary.closed++;
    summary.closedByReason[decision.reason] = (summary.closedByReason[decision.reason] ?? 0) + 1;
    return undefined;
  }

  if (channelOf(company, candidate) === "sms") {
    if (!recipient || source?.state !== "open") return skip("no_client_phone");
    if (candidate.clientId !== null && !params.isDryRun) {
      if (clientsThisRound.has(candidate.clientId)) return "later";
      clientsThisRound.add(candidate.clientId);
    }
    // One text at a time for the whole run, as the SMS channel was written for: its accounts'
    // sessions and "down" rule then stay as they are whatever the number of workers.
    const release = await run.slots.acquire(SMS_SLOT, 1);
    try {
      const result = await runSmsStep({
        db: ctx.db, config: ctx.config, log: ctx.log, isDryRun: params.isDryRun, run: run.sms,
        candidate, company, decision, source, recipient, sendCount, now,
      });
      if (result.kind === "skip") return skip(result.reason);
      if (result.kind === "planned") {
        if (run.plannedClients.has(candidate.clientId!)) return skip("client_already_contacted_today");
        run.plannedClients.add(candidate.clientId!);
        summary.wouldSend!.push({
          followupId: candidate.id, step: decision.step, to: result.to, channel: "sms", text: result.text, segments: result.segments,
          subject: `SMS (${result.segments} segment${result.segments > 1 ? "s" : ""})`,
        });
        return undefined;
      }
      countOutcome(summary, skip, candidate.id, decision.step, result.outcome);
      return undefined;
    } finally {
      release();
    }
  }

  const template = companyTemplateFor(company.settings.templates, candidate.type);
  if (template === "sms") return skip("sms_not_supported");
  const senderResult = await company.sender();
  if ("unavailable" in senderResult) return skip(senderResult.unavailable);
  const sender = senderResult.sender;
  if (run.downSenders.has(sender.key)) return skip("smtp_unavailable");
  if (!recipient || candidate.clientId === null || source?.state !== "open") return skip("no_client_email");

  const email = renderFollowup({
    type: candidate.type,
    isBeforeDue: decision.isBeforeDue,
    template,
    values: templateValuesOf({ candidate, source, company, now, fallbackEmail: sender.replyTo ?? sender.from.address }),
  });

  if (params.isDryRun) {
    if (run.plannedClients.has(candidate.clientId)) return skip("client_already_contacted_today");
    run.plannedClients.add(candidate.clientId);
    summary.wouldSend!.push({ followupId: candidate.id, step: decision.step, to: recipient, subject: email.subject });
    return undefined;
  }
  const due: DueEmail = {
    candidate: { ...candidate, clientId: candidate.clientId },
    step: decision.step,
    recipient,
    email,
    isLastAllowed: sendCount + 1 >= company.settings.maxRelances,
  };
  return { due, sender };
}

/**
 * Claims `due` and sends what was claimed, one email at a time. Returns false when the run's budget
 * ran out: the claimed steps not sent are released for the next run.
 */
async function sendDueEmails(
  ctx: JobContext,
  summary: FollowupSummary,
  run: RunState,
  company: CompanyContext,
  sender: Sender,
  due: DueEmail[],
  now: Date,
): Promise<boolean> {
  const fail = (item: DueEmail, kind: string, reason: string) => {
    summary.failed++;
    summary.failures.push({ followupId: item.candidate.id, step: item.step, kind, reason });
  };
  const skip = (reason: string) => {
    summary.skipped++;
    summary.skippedByReason[reason] = (summary.skippedByReason[reason] ?? 0) + 1;
  };

  let login: MailLogin | undefined;
  try {
    login = await run.loginOf(sender);
  } catch (err) {
    // The mailbox cannot log in (grant refused, provider down): nothing else goes out through it this run.
    const isFirst = !run.downSenders.has(sender.key);
    run.downSenders.add(sender.key);
    due.forEach((item, i) => (i === 0 && isFirst ? fail(item, errorKindOf(err), shortReason(err)) : skip("smtp_unavailable")));
    return true;
  }

  const timeZone = company.settings.sendingWindow.timeZone;
  const claims: StepClaim[] = due.map((item) => ({
    followupId: item.candidate.id,
    companyId: item.candidate.companyId,
    clientId: item.candidate.clientId,
    step: item.step,
    messageId: newMessageId(item.candidate.id, item.step, sender.from.address),
    recipient: item.recipient,
    subject: item.email.subject,
  }));
  const results = await claimFollowupSteps(ctx.db, {
    startedAt: now,
    leaseUntil: new Date(now.getTime() + ATTEMPT_LEASE_MS),
    clientDay: { startAt: startOfLocalDay(now, timeZone), endAt: startOfLocalDay(now, timeZone, 1) },
  }, claims);

  const unsent: number[] = [];
  for (const result of results) if (result.claimed) unsent.push(result.attemptId);
  let hasTime = true;
  try {
    for (const [i, result] of results.entries()) {
      if (!result.claimed) {
        skip(result.reason === "step_taken" ? "send_in_progress" : "client_already_contacted_today");
        continue;
      }
      const item = due[i]!;
      if (ctx.budget.isExhausted(run.reserveMs)) {
        hasTime = false;
        summary.remaining = true;
        break;
      }
      let release: (() => void) | undefined;
      try {
        const messageId = claims[i]!.messageId;
        // Built while the account may still be busy with other sends: it needs no connection.
        const message = await composeFollowupEmail({ sender, recipient: item.recipient, email: item.email, messageId });
        release = await run.slots.acquire(sender.key, sender.smtp.maxConnections);
        unsent.splice(unsent.indexOf(result.attemptId), 1);
        if (run.downSenders.has(sender.key)) {
          await releaseUnsentAttempts(ctx.db, [result.attemptId]);
          skip("smtp_unavailable");
          continue;
        }
        const outcome = await emailChannel.send(
          ctx.db,
          {
            attemptId: result.attemptId,
            messageId,
            followupId: item.candidate.id,
            companyId: item.candidate.companyId,
            clientId: item.candidate.clientId,
            step: item.step,
            recipient: item.recipient,
            email: item.email,
            sender,
            now,
            isLastAllowed: item.isLastAllowed,
            message,
            smtp: run.smtp.sessionFor(sender.key, { ...sender.smtp, login }),
            // Accepted: the account's next email may go while this one is recorded. After a
            // failure the slot is kept until the account is marked down, which is done before
            // the attempt is cleaned up, so the next send sees it.
            onAccepted: release,
            onServerFailure: () => run.downSenders.add(sender.key),
          },
          ctx.log.with({ companyId: item.candidate.companyId }),
        );
        switch (outcome.outcome) {
          case "sent":
            summary.sent++;
            break;
          case "not_claimed":
            skip("send_in_progress");
            break;
          case "failed":
            fail(item, outcome.kind, outcome.reason);
            break;
          case "unrecorded":
            fail(item, "uncertain", outcome.reason);
            break;
        }
      } catch (err) {
        // A database hiccup on one follow-up: count it, go on with the others.
        fail(item, "transient", shortReason(err));
        ctx.log.error("followup failed", { followupId: item.candidate.id, error: shortReason(err) });
      } finally {
        release?.();
      }
    }
  } finally {
    // Claimed but never sent (out of time, or an error above): the next run claims them at once.
    await releaseUnsentAttempts(ctx.db, unsent);
  }
  return hasTime;
}

/** The slot every text message of a run takes (see dueEmailOf). */
const SMS_SLOT = "sms";

function channelOf(company: CompanyContext, candidate: FollowupCandidate): FollowupChannelName {
  return smsTemplateFor(company.settings.templates, candidate.type) ? "sms" : "email";
}

/** Counts what a channel did with one step (the SMS path; the email path counts in sendDueEmails). */
function countOutcome(summary: FollowupSummary, skip: (reason: string) => void, followupId: number, step: number, outcome: SendOutcome): void {
  if (outcome.outcome === "sent") {
    summary.sent++;
  } else if (outcome.outcome === "not_claimed") {
    skip(outcome.reason === "step_taken" ? "send_in_progress" : "client_already_contacted_today");
  } else {
    summary.failed++;
    const kind = outcome.outcome === "failed" ? outcome.kind : "uncertain";
    summary.failures.push({ followupId, step, kind, reason: outcome.reason });
  }
}
