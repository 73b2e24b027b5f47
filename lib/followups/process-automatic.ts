// The automatic follow-up job: sends the reminder emails that are due, exactly once each.
//
// Each run first settles the attempts a dead run left `sending`: sent again when the server never
// got their message, else flagged uncertain and the company told. Then it looks at every automatic
// follow-up not yet done, oldest first, in small batches of one company (process-batch.ts) that a
// few workers take in turn until the run budget is nearly spent: decide (due-steps.ts), close what
// is settled, and send what is due through its channel (channels/channel.ts: email by SMTP, text
// messages by SMS). Different companies' emails go out at the same time; one SMTP account carries
// a bounded number of sends at once, one per kept connection (SMTP_MAX_CONNECTIONS for the global
// relay, one for a company's own mailbox). One follow-up's failure never stops the others. A dry
// run decides the same way but sends and writes nothing, and lists what it would send.

import type { Db } from "../db/client.js";
import type { Job, JobContext } from "../jobs/run-job.js";
import type { FollowupChannel, OpenChannel } from "./channels/channel.js";
import { smsChannel } from "./channels/sms.js";
import { smtpChannel } from "./channels/smtp.js";
import { markStaleAttemptsUncertain, releaseAttemptsNeverHandedOver } from "./claim-followups.js";
import { emptySummary, type FollowupParams, type FollowupSummary } from "./followup-summary.js";
import { type CompanyContext, loadCompany } from "./load-company.js";
import { notifyUncertainSend } from "../notify/notify-company.js";
import { processBatch, type RunState } from "./process-batch.js";
import { type FollowupCandidate, selectCandidates } from "./select-candidates.js";

// The job's summary types, where its callers (the registry, the status, the operator's page) look for them.
export type { FollowupFailure, FollowupParams, FollowupSummary, PlannedEmail } from "./followup-summary.js";

/**
 * The channels a follow-up step can go by, asked in this order whether they carry it: a channel
 * for some companies' mailboxes (an HTTP mail API) goes before SMTP, which carries every other email.
 */
const CHANNELS: FollowupChannel[] = [smsChannel, smtpChannel];

export const processAutomaticJob: Job<FollowupParams, FollowupSummary> = {
  name: "followups",
  triggerLogLine: "🔄 Déclenchement du traitement des relances automatiques via API...",
  successMessage: "Traitement des relances automatiques terminé avec succès",
  paramsFromQuery: (query) => ({ isDryRun: ["1", "true", "yes"].includes(query.get("dry_run") ?? "") }),
  run: processAutomaticFollowups,
  // A send started just before the deadline waits on its server up to its time-out.
  lastStepMs: (config) => Math.max(config.smtpTimeoutMs, config.sms.timeoutMs),
  itemsOf: (summary) => ({ attempted: summary.sent + summary.failed, failed: summary.failed, firstFailure: summary.failures[0]?.reason }),
};

/**
 * Batches worked on at once. The work is mostly waiting (the database, SMTP servers), so several
 * workers keep both busy. Measured on 2,000 emails to 200 mailboxes (bench/README.md): 12 workers
 * and 6 were within noise of each other for companies' own mailboxes, 12 did better through the
 * one global server (other batches are decided and claimed while one email is on the wire).
 */
const WORKERS = 12;
/**
 * Follow-ups decided together, just before being sent. Small, so that what a batch decides is
 * read at most a few seconds before its last email goes (a payment recorded meanwhile still stops
 * the emails of the following batches), large enough that the reads cost a few queries per batch.
 */
const BATCH_SIZE = 16;
/** Keep this much of the budget for one last SMTP exchange to finish (at most a quarter of it). */
function reserveMsFor(ctx: JobContext): number {
  return Math.min(ctx.config.smtpTimeoutMs, ctx.budget.budgetMs / 4);
}

async function processAutomaticFollowups(ctx: JobContext, params: FollowupParams): Promise<FollowupSummary> {
  const summary = emptySummary(params);
  if (!params.isDryRun) {
    const settled = await settleInterruptedAttempts(ctx.db, ctx.now());
    summary.uncertain = settled.uncertain;
    if (settled.released > 0) ctx.log.info("followup sends interrupted before hand-over: sent again", { count: settled.released });
  }
  if (summary.uncertain > 0) ctx.log.warn("followup sends interrupted during hand-over: marked uncertain, not resent", { count: summary.uncertain });

  const reserveMs = reserveMsFor(ctx);
  const run: RunState = {
    channels: CHANNELS.map((channel) => channel.open({ ...ctx, reserveMs })),
    plannedClients: new Set(),
    companyOf: companiesOf(ctx),
  };
  try {
    const batches = batchesOf(await selectCandidates(ctx.db));
    let next = 0;
    const worker = async () => {
      while (next < batches.length && !summary.remaining) {
        if (ctx.budget.isExhausted(reserveMs)) {
          summary.remaining = true;
          return;
        }
        await processBatch(ctx, params, summary, run, batches[next++]!);
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
  } finally {
    await closeChannels(run.channels);
  }
  return summary;
}

/** Closes every channel of the run, even when one fails to; then throws the first failure. */
async function closeChannels(channels: OpenChannel[]): Promise<void> {
  const closed = await Promise.allSettled(channels.map((channel) => channel.close()));
  const failure = closed.find((result) => result.status === "rejected");
  if (failure) throw failure.reason;
}

/** Each company's context, read once per run, on first need. */
function companiesOf(ctx: JobContext): RunState["companyOf"] {
  const companies = new Map<number, Promise<CompanyContext>>();
  return (companyId) => {
    let company = companies.get(companyId);
    if (!company) {
      company = loadCompany(ctx.db, ctx.config, companyId, ctx.log, ctx.now);
      companies.set(companyId, company);
    }
    return company;
  };
}

/**
 * Cuts the candidates (oldest first) into batches of one company each, in the order of their
 * oldest follow-up. A client's follow-ups all go into the batch of its oldest one, so the
 * one-email-per-client-per-day choice is made inside one batch, in order.
 */
function batchesOf(candidates: FollowupCandidate[]): FollowupCandidate[][] {
  const batches: FollowupCandidate[][] = [];
  const openBatchOf = new Map<number, FollowupCandidate[]>();
  const batchOfClient = new Map<number, FollowupCandidate[]>();
  for (const candidate of candidates) {
    const clientBatch = candidate.clientId === null ? undefined : batchOfClient.get(candidate.clientId);
    if (clientBatch) {
      clientBatch.push(candidate);
      continue;
    }
    let batch = openBatchOf.get(candidate.companyId);
    if (!batch || batch.length >= BATCH_SIZE) {
      batch = [];
      batches.push(batch);
      openBatchOf.set(candidate.companyId, batch);
    }
    batch.push(candidate);
    if (candidate.clientId !== null) batchOfClient.set(candidate.clientId, batch);
  }
  return batches;
}

/**
 * Settles dead runs' `sending` attempts: those never handed over are released (their steps are
 * sent again below), the others flagged uncertain with a notice to each company, atomically.
 */
async function settleInterruptedAttempts(db: Db, now: Date): Promise<{ released: number; uncertain: number }> {
  return db.transaction(async (tx) => {
    const released = await releaseAttemptsNeverHandedOver(tx, now);
    const stale = await markStaleAttemptsUncertain(tx, now);
    for (const attempt of stale) await notifyUncertainSend(tx, attempt);
    return { released, uncertain: stale.length };
  });
}
