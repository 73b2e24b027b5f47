// The automatic follow-up job: sends the reminder emails that are due, exactly once each.
//
// Each run first settles the attempts a dead run left `sending`: sent again when the server never
// got their message, else flagged uncertain and the company told. Then it looks at every automatic
// follow-up not yet done, oldest first, until the run budget is nearly spent: decide
// (due-steps.ts), close what is settled, and send what is due (send-followup.ts). One follow-up's
// failure never stops the others. A dry run decides the same way but sends and writes nothing, and
// lists what it would send.

import type { Db } from "../db/client.js";
import { createSmtpSessions, type SmtpSessions } from "../mail/smtp.js";
import { kindOf, shortReason } from "../errors.js";
import type { MailLogin } from "../mail/credentials.js";
import type { Job, JobContext } from "../jobs/run-job.js";
import { markStaleAttemptsUncertain, releaseAttemptsNeverHandedOver } from "./claim-followups.js";
import { closeFollowup } from "./close-followup.js";
import { decideFollowup } from "./decide-followup.js";
import { type CompanyContext, loadCompany } from "./load-company.js";
import { notifyUncertainSend } from "./notify-company.js";
import { companyTemplateFor, renderFollowup } from "./render.js";
import { type FollowupCandidate, selectCandidates } from "./select-candidates.js";
import { sendFollowup } from "./send-followup.js";
import type { Sender } from "./sender.js";
import { createSmsRun, runSmsStep, type SmsRun } from "./channels/sms-step.js";
import { smsTemplateFor } from "./channels/sms.js";
import type { SendOutcome } from "./channels/channel.js";

export interface FollowupParams {
  /** Report what would be sent, send and record nothing. */
  isDryRun: boolean;
}

/** One email a dry run would send. */
export interface PlannedEmail {
  followupId: number;
  step: number;
  to: string;
  subject: string;
  /** Set for a text message (`to` is then an E.164 number). */
  channel?: "sms";
}

export interface FollowupFailure {
  followupId: number;
  step: number;
  kind: string;
  reason: string;
}

/** What one run of the follow-up job did. */
export interface FollowupSummary {
  isDryRun: boolean;
  examined: number;
  sent: number;
  /** Not sent this time, by reason (waiting for its day, the window, the client's day…). */
  skipped: number;
  skippedByReason: Record<string, number>;
  /** Set to `Fait` without sending (or that would be, in a dry run), by reason. */
  closed: number;
  closedByReason: Record<string, number>;
  /** Sends refused or that could not be made this run (temporary ones are retried later). */
  failed: number;
  failures: FollowupFailure[];
  /** Attempts found interrupted during the hand-over in this run: never resent, company notified. */
  uncertain: number;
  /** Dry runs only: exactly what would be sent. */
  wouldSend?: PlannedEmail[];
  remaining: boolean;
}

export const processAutomaticJob: Job<FollowupParams, FollowupSummary> = {
  name: "followups",
  triggerLogLine: "🔄 Déclenchement du traitement des relances automatiques via API...",
  successMessage: "Traitement des relances automatiques terminé avec succès",
  paramsFromQuery: (query) => ({ isDryRun: ["1", "true", "yes"].includes(query.get("dry_run") ?? "") }),
  run: processAutomaticFollowups,
};

/** Keep this much of the budget for one last SMTP exchange to finish (at most a quarter of it). */
function reserveMsFor(ctx: JobContext): number {
  return Math.min(ctx.config.smtpTimeoutMs, ctx.budget.budgetMs / 4);
}

async function processAutomaticFollowups(ctx: JobContext, params: FollowupParams): Promise<FollowupSummary> {
  const summary: FollowupSummary = {
    isDryRun: params.isDryRun, examined: 0, sent: 0, skipped: 0, skippedByReason: {}, closed: 0, closedByReason: {},
    failed: 0, failures: [], uncertain: 0, remaining: false,
    ...(params.isDryRun ? { wouldSend: [] } : {}),
  };
  if (!params.isDryRun) {
    const settled = await settleInterruptedAttempts(ctx.db, ctx.now());
    summary.uncertain = settled.uncertain;
    if (settled.released > 0) ctx.log.info("followup sends interrupted before hand-over: sent again", { count: settled.released });
  }
  if (summary.uncertain > 0) ctx.log.warn("followup sends interrupted during hand-over: marked uncertain, not resent", { count: summary.uncertain });

  const logins = new Map<string, Promise<MailLogin | undefined>>();
  const run: RunState = {
    downSenders: new Set(), plannedClients: new Set(), smtp: createSmtpSessions(), sms: createSmsRun(ctx.db, ctx.log, ctx.now),
    loginOf: (sender) => {
      let login = logins.get(sender.key);
      if (!login) {
        login = sender.resolveLogin?.() ?? Promise.resolve(undefined);
        logins.set(sender.key, login);
      }
      return login;
    },
  };
  try {
    await processCandidates(ctx, params, summary, run);
  } finally {
    run.smtp.closeAll();
    await run.sms.closeAll();
  }
  return summary;
}

async function processCandidates(ctx: JobContext, params: FollowupParams, summary: FollowupSummary, run: RunState): Promise<void> {
  const companies = new Map<number, Promise<CompanyContext>>();
  for (const candidate of await selectCandidates(ctx.db)) {
    if (ctx.budget.isExhausted(reserveMsFor(ctx))) {
      summary.remaining = true;
      break;
    }
    summary.examined++;
    if (!companies.has(candidate.companyId)) {
      companies.set(candidate.companyId, loadCompany(ctx.db, ctx.config, candidate.companyId, ctx.log, ctx.now));
    }
    try {
      const company = await companies.get(candidate.companyId)!;
      await processFollowup(ctx, params, summary, run, candidate, company);
    } catch (err) {
      // A database hiccup on one follow-up: count it, go on with the others.
      summary.failed++;
      summary.failures.push({ followupId: candidate.id, step: 0, kind: "transient", reason: shortReason(err) });
      ctx.log.error("followup failed", { followupId: candidate.id, error: shortReason(err) });
    }
  }
}

interface RunState {
  /** SMTP accounts that failed at the connection or login, or answered 4xx, this run: not tried again until the next. */
  downSenders: Set<string>;
  /** Dry runs: clients already given an email in the plan (one per client per day). */
  plannedClients: Set<number>;
  /** One SMTP connection per sending account for the whole run. */
  smtp: SmtpSessions;
  /** The run's SMS accounts (channels/sms-step.ts). */
  sms: SmsRun;
  /** The OAuth2 login of a sender, asked for once per run (undefined for password logins). */
  loginOf(sender: Sender): Promise<MailLogin | undefined>;
}

async function processFollowup(
  ctx: JobContext,
  params: FollowupParams,
  summary: FollowupSummary,
  run: RunState,
  candidate: FollowupCandidate,
  company: CompanyContext,
): Promise<void> {
  const now = ctx.now();
  const skip = (reason: string) => {
    summary.skipped++;
    summary.skippedByReason[reason] = (summary.skippedByReason[reason] ?? 0) + 1;
  };
  const channel = smsTemplateFor(company.settings.templates, candidate.type) ? "sms" : "email";
  const { decision, source, recipient, sendCount } = await decideFollowup(ctx.db, candidate, company.settings, now, channel);
  if (decision.kind === "skip" || decision.kind === "wait") return skip(decision.reason);
  if (decision.kind === "close") {
    if (!params.isDryRun) await closeFollowup(ctx.db, candidate.id, now);
    summary.closed++;
    summary.closedByReason[decision.reason] = (summary.closedByReason[decision.reason] ?? 0) + 1;
    return;
  }

  if (channel === "sms") {
    if (!recipient || source?.state !== "open") return skip("no_client_phone");
    const result = await runSmsStep({
      db: ctx.db, config: ctx.config, log: ctx.log, isDryRun: params.isDryRun, run: run.sms,
      candidate, company, decision, source, recipient, sendCount, now,
    });
    if (result.kind === "skip") return skip(result.reason);
    if (result.kind === "planned") {
      if (run.plannedClients.has(candidate.clientId!)) return skip("client_already_contacted_today");
      run.plannedClients.add(candidate.clientId!);
      summary.wouldSend!.push({ followupId: candidate.id, step: decision.step, to: result.to, subject: `SMS (${result.segments} segment(s))`, channel: "sms" });
      return;
    }
    return countOutcome(summary, skip, candidate.id, decision.step, result.outcome);
  }

  const template = companyTemplateFor(company.settings.templates, candidate.type);
  if (template === "sms") return skip("sms_not_supported");
  const senderResult = await company.sender();
  if ("unavailable" in senderResult) return skip(senderResult.unavailable);
  const sender = senderResult.sender;
  if (run.downSenders.has(sender.key)) return skip("smtp_unavailable");
  if (!recipient || candidate.clientId === null || source?.state !== "open") return skip("no_client_email");

  const timeZone = company.settings.sendingWindow.timeZone;
  const email = renderFollowup({
    type: candidate.type,
    isBeforeDue: decision.isBeforeDue,
    template,
    values: {
      clientName: candidate.clientName ?? "",
      sourceLabel: candidate.sourceLabel ?? source.documentNumber ?? candidate.type,
      documentNumber: source.documentNumber,
      amount: source.amount,
      dueDate: source.dueDate,
      now,
      timeZone,
      company: {
        ...company.settings.companyInfo,
        name: company.name,
        email: company.settings.companyInfo.email ?? sender.replyTo ?? sender.from.address,
      },
    },
  });

  if (params.isDryRun) {
    if (run.plannedClients.has(candidate.clientId)) return skip("client_already_contacted_today");
    run.plannedClients.add(candidate.clientId);
    summary.wouldSend!.push({ followupId: candidate.id, step: decision.step, to: recipient, subject: email.subject });
    return;
  }

  let login: MailLogin | undefined;
  try {
    login = await run.loginOf(sender);
  } catch (err) {
    // The mailbox cannot log in (grant refused, provider down): nothing else goes out through it this run.
    run.downSenders.add(sender.key);
    summary.failed++;
    summary.failures.push({ followupId: candidate.id, step: decision.step, kind: kindOf(err), reason: shortReason(err) });
    return;
  }
  const outcome = await sendFollowup(
    ctx.db,
    {
      followupId: candidate.id,
      companyId: candidate.companyId,
      clientId: candidate.clientId,
      step: decision.step,
      recipient,
      email,
      sender,
      now,
      timeZone,
      isLastAllowed: sendCount + 1 >= company.settings.maxRelances,
      smtp: run.smtp.sessionFor(sender.key, { ...sender.smtp, login }),
    },
    ctx.log.with({ companyId: candidate.companyId }),
  );
  switch (outcome.outcome) {
    case "sent":
      summary.sent++;
      return;
    case "not_claimed":
      return skip(outcome.reason === "step_taken" ? "send_in_progress" : "client_already_contacted_today");
    case "failed":
      if (outcome.isServerDown) run.downSenders.add(sender.key);
      summary.failed++;
      summary.failures.push({ followupId: candidate.id, step: decision.step, kind: outcome.kind, reason: outcome.reason });
      return;
    case "unrecorded":
      summary.failed++;
      summary.failures.push({ followupId: candidate.id, step: decision.step, kind: "uncertain", reason: outcome.reason });
      return;
  }
}

/**
 * Settles dead runs' `sending` attempts: those never handed over are released (their steps are
 * sent again below), the others flagged uncertain with a notice to each company, atomically.
 */
async function settleInterruptedAttempts(db: Db, now: Date): Promise<{ released: number; uncertain: number }> {
  return db.transaction(async (tx) => {
    const released = await releaseAttemptsNeverHandedOver(tx as unknown as Db, now);
    const stale = await markStaleAttemptsUncertain(tx as unknown as Db, now);
    for (const attempt of stale) await notifyUncertainSend(tx as unknown as Db, attempt);
    return { released, uncertain: stale.length };
  });
}

/** Counts what a channel did with one step (the SMS path; the email path counts inline above). */
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
