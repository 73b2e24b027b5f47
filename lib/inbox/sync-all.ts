/**
 * The inbox sync job: claims due IMAP integrations, most overdue first, in small batches (as many as
 * it has free slots), syncs many at once (`SYNC_CONCURRENCY`; on one IMAP host a bound learned per
 * host, starting at `SYNC_CONCURRENCY_PER_HOST`: `host-concurrency.ts`), and records each one's result (plain successes in batches). One failing mailbox
 * never fails the run. There is
 * no fixed count per run: it takes mailboxes until its budget (minus a reserve) is spent, then says
 * `remaining: true`; the next ping continues where it stopped (the cursors moved after every batch).
 * When far more is due than one run can do, it may fan out over parallel invocations (`fan-out.ts`).
 */

import { setMaxListeners } from "node:events";
import { shortReason } from "../errors.js";
import {
  type ClaimedIntegration, claimDueIntegrations, countDueIntegrations, countNotDueIntegrations, imapHostKey, isGraphHostKey, releaseIntegration,
} from "./claim-integrations.js";
import { createHostSessionBounds, HOST_SESSION_CEILING } from "./host-concurrency.js";
import type { Job, JobContext } from "../jobs/run-job.js";
import { attachmentStorageFor } from "../storage/attachment-storage.js";
import { CHILD_ANSWER_GRACE_MS, childInvocationsFor, type FanoutSummary, isFanoutChildQuery, startFanout } from "./fan-out.js";
import { createSuccessRecorder } from "./success-recorder.js";
import { type IntegrationSyncContext, type IntegrationSyncOptions, syncIntegration } from "./sync-integration.js";

export interface SyncParams {
  /** Sync only this integration, whether due or not (CLI `sync --integration ID`). */
  integrationId?: number;
  /** This run was started by another ping's fan-out: it never fans out itself. */
  isFanoutChild?: boolean;
}

export interface IntegrationFailure {
  integrationId: number;
  reason: string;
}

/** What one run of the inbox sync did. */
export interface SyncSummary {
  integrations: { attempted: number; succeeded: number; failed: number; skipped: number };
  messagesImported: number;
  /** Messages that could not be imported, kept aside with their reason (`inbox_quarantine`). */
  messagesSetAside: number;
  failures: IntegrationFailure[];
  remaining: boolean;
  /** What the parallel invocations this run started did (only when it fanned out). */
  fanout?: FanoutSummary;
}

/** A lease outlives the run by this much, so a run killed by its platform frees its mailboxes soon after. */
const LEASE_MARGIN_MS = 60_000;

export const syncAllJob: Job<SyncParams, SyncSummary> = {
  name: "inbox-sync",
  triggerLogLine: "🔄 Déclenchement de la synchronisation inbox via API...",
  successMessage: "Synchronisation inbox terminée avec succès",
  paramsFromQuery: (query) => (isFanoutChildQuery(query) ? { isFanoutChild: true } : {}),
  run: syncAll,
  // IMAP sessions are cut before the deadline; only the wait for fanned-out children's answers runs past it.
  lastStepMs: (config) => (config.fanout.maxInvocations > 0 ? CHILD_ANSWER_GRACE_MS : 0),
  itemsOf: (summary) => ({ attempted: summary.integrations.attempted, failed: summary.integrations.failed, firstFailure: summary.failures[0]?.reason }),
};

async function syncAll(ctx: JobContext, params: SyncParams): Promise<SyncSummary> {
  const summary: SyncSummary = {
    integrations: { attempted: 0, succeeded: 0, failed: 0, skipped: 0 },
    messagesImported: 0,
    messagesSetAside: 0,
    failures: [],
    remaining: false,
  };
  const isForced = params.integrationId !== undefined;
  if (!isForced) summary.integrations.skipped = await countNotDueIntegrations(ctx.db, ctx.now());
  // Only a ping (HTTP or the platform's schedule) fans out: a CLI run or a child works alone.
  const mayFanOut = !isForced && !params.isFanoutChild && (ctx.trigger === "http" || ctx.trigger === "schedule");
  const fanout = mayFanOut && ctx.config.fanout.maxInvocations > 0
    ? startFanout(ctx.config, childInvocationsFor(ctx.config, await countDueIntegrations(ctx.db, ctx.now())), ctx.budget, ctx.log)
    : undefined;

  const syncCtx = integrationContext(ctx);
  const sync = async (integration: ClaimedIntegration, options: IntegrationSyncOptions): Promise<SessionEnd> => {
    try {
      const outcome = await syncIntegration(syncCtx, integration, options);
      // Turned away by its busy host: not an attempt; it is claimed again, this run or the next.
      if (outcome.status === "refused") return "refused";
      summary.integrations.attempted++;
      summary.messagesImported += outcome.imported;
      summary.messagesSetAside += outcome.setAside;
      summary.remaining ||= outcome.hasMore;
      if (outcome.status === "success") summary.integrations.succeeded++;
      else {
        summary.integrations.failed++;
        summary.failures.push({ integrationId: integration.id, reason: outcome.reason });
      }
      return outcome.status === "success" ? "accepted" : "failed";
    } catch (err) {
      // Only the database can fail here (recording the result): count it, free the mailbox, go on.
      summary.integrations.attempted++;
      summary.integrations.failed++;
      summary.failures.push({ integrationId: integration.id, reason: shortReason(err) });
      await releaseIntegration(ctx.db, integration.id, ctx.runId).catch(() => {});
      return "failed";
    }
  };
  let isCutShort = false;
  try {
    ({ isCutShort } = await runClaimed(ctx, params, syncCtx.reserveMs, sync));
  } finally {
    await syncCtx.successes?.close();
    // The children's answers are awaited even when this run failed: nothing may outlive the response.
    if (fanout) summary.fanout = await fanout.settle();
  }

  if (isForced && summary.integrations.attempted === 0 && isCutShort) {
    // The budget ran out before the mailbox could be claimed (a slow start): it is still to do.
    summary.remaining = true;
  } else if (isForced && summary.integrations.attempted === 0) {
    summary.integrations.skipped = 1;
    ctx.log.warn("integration not synced: not an active IMAP integration, or being synced by another run", {
      integrationId: params.integrationId,
    });
  }
  summary.remaining ||= summary.fanout?.remaining ?? false;
  if (!isForced && isCutShort && !summary.remaining) summary.remaining = (await countDueIntegrations(ctx.db, ctx.now())) > 0;
  return summary;
}

/** A mailbox its host turned away this often in one run waits for the next run (the host stays busy). */
const MAX_REFUSALS_PER_RUN = 3;

/** How a session ended, as the host's bound hears it: let in and done, refused at the door, or anything else. */
type SessionEnd = "accepted" | "refused" | "failed";

/**
 * Claims due integrations and runs `sync` on each, keeping up to `concurrency` running and on one
 * host at most its learned bound (`host-concurrency.ts`). Claims happen when slots are free, for as many as are free, and
 * pass over hosts already at their bound, so a run holds few leases it cannot start. Integrations
 * claimed but not started when the budget runs out are released at once. Says whether it stopped
 * with work possibly left (budget or the deprecated per-run bound).
 */
async function runClaimed(
  ctx: JobContext,
  params: SyncParams,
  reserveMs: number,
  sync: (integration: ClaimedIntegration, options: IntegrationSyncOptions) => Promise<SessionEnd>,
): Promise<{ isCutShort: boolean }> {
  const isForced = params.integrationId !== undefined;
  const concurrency = isForced ? 1 : ctx.config.sync.concurrency;
  const bounds = createHostSessionBounds({
    db: ctx.db, now: ctx.now, log: ctx.log,
    startBound: ctx.config.sync.concurrencyPerHost,
    ceiling: Math.max(ctx.config.sync.concurrencyPerHost, Math.min(HOST_SESSION_CEILING, ctx.config.sync.concurrency)),
    isLearned: (hostKey) => !isGraphHostKey(hostKey),
  });
  const maxClaims = isForced ? 1 : (ctx.config.sync.maxIntegrationsPerRun ?? Infinity);
  const running = new Set<Promise<void>>();
  const sessionsByHost = new Map<string, number>();
  const waiting: ClaimedIntegration[] = [];
  let claims = 0;
  let isSourceDry = false;
  let isCutShort = false;
  /** Integrations turned away at their host's door this run, with how often. */
  const refusalsById = new Map<number, number>();
  const hostsLetIn = new Set<string>();
  /** Sessions started per host this run, to tell which sessions overlapped. */
  const startsByHost = new Map<string, number>();
  let isRefusedLeftOver = false;
  /** Refused integrations handed back to the due ones so far: a claim in flight may not have seen them. */
  let handedBack = 0;

  const start = (integration: ClaimedIntegration) => {
    const host = imapHostKey(integration);
    const open = (sessionsByHost.get(host) ?? 0) + 1;
    sessionsByHost.set(host, open);
    const ticket = bounds.started(host, open);
    const refusals = refusalsById.get(integration.id) ?? 0;
    const startsBefore = startsByHost.get(host) ?? 0;
    startsByHost.set(host, startsBefore + 1);
    // A refusal is this run's crowding when it had other sessions there alongside this one (open when
    // it started, or started while it was logging in: the host may count them first), or had some let
    // in a moment ago (a server counts a session until its process is gone, after our LOGOUT). On a
    // host that never let this run in and where this session was alone, it is the mailbox's failure.
    const isRefusalTheRunsOwn = () => open > 1 || startsByHost.get(host)! > startsBefore + 1 || hostsLetIn.has(host);
    const task: Promise<void> = sync(integration, { isRefusalTheRunsOwn }).then((end) => {
      if (end === "accepted") {
        bounds.accepted(ticket);
        hostsLetIn.add(host);
      }
      if (end === "refused") {
        bounds.refused(ticket, sessionsByHost.get(host)!);
        refusalsById.set(integration.id, refusals + 1);
        // Still due: claimed again, even if the source looked dry, unless turned away too often this
        // run (then the next run takes it).
        if (refusals + 1 < MAX_REFUSALS_PER_RUN) {
          isSourceDry = false;
          handedBack++;
          claims--;
        } else {
          isRefusedLeftOver = true;
        }
      }
    }).finally(() => {
      sessionsByHost.set(host, sessionsByHost.get(host)! - 1);
      running.delete(task);
    });
    running.add(task);
  };
  const startWhatFits = () => {
    for (let i = 0; i < waiting.length && running.size < concurrency; ) {
      const host = imapHostKey(waiting[i]!);
      if ((sessionsByHost.get(host) ?? 0) < bounds.boundFor(host)) start(waiting.splice(i, 1)[0]!);
      else i++;
    }
  };

  for (;;) {
    startWhatFits();
    if (ctx.budget.isExhausted(reserveMs) || claims >= maxClaims) {
      isCutShort = true;
      break;
    }
    const free = Math.min(concurrency - running.size - waiting.length, maxClaims - claims);
    if (!isSourceDry && free > 0) {
      // Hosts whose sessions (running or about to) reach the bound: claiming more there would only wait.
      const load = new Map(sessionsByHost);
      for (const w of waiting) load.set(imapHostKey(w), (load.get(imapHostKey(w)) ?? 0) + 1);
      const excludedHosts = [...load].filter(([host, n]) => n >= bounds.boundFor(host)).map(([host]) => host);
      const handedBackBefore = handedBack;
      const batch = await claimDueIntegrations(ctx.db, {
        owner: ctx.runId,
        leaseMs: ctx.config.runBudgetMs + LEASE_MARGIN_MS,
        limit: free,
        now: ctx.now(),
        integrationId: params.integrationId,
        excludedHosts,
        excludedIds: [...refusalsById].filter(([, n]) => n >= MAX_REFUSALS_PER_RUN).map(([id]) => id),
      });
      claims += batch.length;
      await bounds.load(batch.map(imapHostKey));
      waiting.push(...batch);
      // Fewer than asked with no host passed over and nothing handed back meanwhile: nothing else is due now.
      if (batch.length < free && excludedHosts.length === 0 && handedBack === handedBackBefore) isSourceDry = true;
      if (batch.length > 0) continue;
    }
    if (running.size === 0) break;
    await Promise.race(running);
  }
  if (waiting.length > 0) await releaseIntegration(ctx.db, waiting.map((w) => w.id), ctx.runId).catch(() => {});
  await Promise.all(running);
  await bounds.flush();
  return { isCutShort: isCutShort || isRefusedLeftOver };
}

/** What every integration of this run shares: storage, budget thresholds, the IMAP hard stop. */
function integrationContext(ctx: JobContext): IntegrationSyncContext {
  const budgetMs = ctx.budget.budgetMs;
  // Stop taking batches with a quarter of the budget (at most 5 s) left: a batch in flight can finish.
  const reserveMs = Math.min(5_000, budgetMs / 4);
  // Cut IMAP sessions a little before the deadline, leaving time to record results and free leases.
  const hardMarginMs = Math.min(2_000, budgetMs / 10);
  const hardStop = AbortSignal.any([
    ctx.budget.signal,
    AbortSignal.timeout(Math.max(1, Math.floor(ctx.budget.remainingMs() - hardMarginMs))),
  ]);
  // Every IMAP session of the run listens to it: many at once is the point, not a leak.
  setMaxListeners(ctx.config.sync.concurrency + 10, hardStop);
  return {
    db: ctx.db,
    config: ctx.config,
    log: ctx.log,
    now: ctx.now,
    budget: ctx.budget,
    owner: ctx.runId,
    storage: attachmentStorageFor(ctx.config, ctx.db),
    reserveMs,
    hardStop,
    successes: createSuccessRecorder({ db: ctx.db, owner: ctx.runId, now: ctx.now, log: ctx.log }),
  };
}
