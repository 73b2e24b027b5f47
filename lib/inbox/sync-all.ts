/**
 * The inbox sync job: claims the due IMAP integrations one at a time (two in parallel), imports their
 * new mail, and records each one's result. One failing mailbox never fails the run. The run stops
 * taking integrations and batches before its budget is spent and says `remaining: true`; the next ping
 * continues where it stopped (the cursors moved after every batch).
 */

import { shortReason } from "../errors.js";
import { claimDueIntegrations, countDueIntegrations, countNotDueIntegrations, releaseIntegration } from "../jobs/claim.js";
import type { Job, JobContext } from "../jobs/run-job.js";
import { attachmentStorageFor } from "../storage/attachment-storage.js";
import { type IntegrationSyncContext, syncIntegration } from "./sync-integration.js";

export interface SyncParams {
  /** Sync only this integration, whether due or not (CLI `sync --integration ID`). */
  integrationId?: number;
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
}

/** Mailboxes synced at the same time: overlaps network waits without hammering the database. */
const CONCURRENCY = 2;
/** A lease outlives the run by this much, so a run killed by its platform frees its mailboxes soon after. */
const LEASE_MARGIN_MS = 60_000;

export const syncAllJob: Job<SyncParams, SyncSummary> = {
  name: "inbox-sync",
  triggerLogLine: "🔄 Déclenchement de la synchronisation inbox via API...",
  successMessage: "Synchronisation inbox terminée avec succès",
  paramsFromQuery: () => ({}),
  run: syncAll,
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
  const syncCtx = integrationContext(ctx);
  const limit = isForced ? 1 : ctx.config.integrationsPerRun;
  let claims = 0;
  let isCutShort = false;

  const worker = async (): Promise<void> => {
    for (;;) {
      if (claims >= limit || ctx.budget.isExhausted(syncCtx.reserveMs)) {
        isCutShort = true;
        return;
      }
      claims++;
      const [integration] = await claimDueIntegrations(ctx.db, {
        owner: ctx.runId,
        leaseMs: ctx.config.runBudgetMs + LEASE_MARGIN_MS,
        limit: 1,
        now: ctx.now(),
        integrationId: params.integrationId,
      });
      if (!integration) return;
      summary.integrations.attempted++;
      try {
        const outcome = await syncIntegration(syncCtx, integration);
        summary.messagesImported += outcome.imported;
        summary.messagesSetAside += outcome.setAside;
        summary.remaining ||= outcome.hasMore;
        if (outcome.status === "success") summary.integrations.succeeded++;
        else {
          summary.integrations.failed++;
          summary.failures.push({ integrationId: integration.id, reason: outcome.reason });
        }
      } catch (err) {
        // Only the database can fail here (recording the result): count it, free the mailbox, go on.
        summary.integrations.failed++;
        summary.failures.push({ integrationId: integration.id, reason: shortReason(err) });
        await releaseIntegration(ctx.db, integration.id, ctx.runId).catch(() => {});
      }
    }
  };
  await Promise.all(Array.from({ length: isForced ? 1 : CONCURRENCY }, worker));

  if (isForced && summary.integrations.attempted === 0) {
    summary.integrations.skipped = 1;
    ctx.log.warn("integration not synced: not an active IMAP integration, or being synced by another run", {
      integrationId: params.integrationId,
    });
  }
  if (!isForced && isCutShort && !summary.remaining) summary.remaining = (await countDueIntegrations(ctx.db, ctx.now())) > 0;
  return summary;
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
  };
}
