// The scheduled inbox sync with the push upkeep (Graph subscriptions, then Gmail watches) as its
// first step. Why a step of the sync rather than a job of its own: it needs no cron of its own
// (Vercel's and Netlify's cron slots are few), runs as often as the sync (a subscription is renewed two days ahead, so even a long
// outage of the schedule leaves it time), and it is cheap when nothing is due (one read). It runs
// only in the schedule's own runs (not a one-mailbox run, not a fan-out child), on at most a quarter
// of the run's budget, so the mail itself is never starved; a failure there never fails the sync.

import { GRAPH_NOTIFICATIONS_PATH } from "./graph-notifications-endpoint.js";
import { shortReason } from "../errors.js";
import { type GmailWatchUpkeepSummary, keepGmailWatches } from "../gmail/push-upkeep.js";
import { keepGraphSubscriptions, type PushUpkeepSummary } from "../graph/push-upkeep.js";
import { type SyncParams, type SyncSummary, syncAllJob } from "../inbox/sync-all.js";
import type { Job, JobContext } from "../jobs/run-job.js";

export type InboxSyncSummary = SyncSummary & { pushSubscriptions?: PushUpkeepSummary; gmailWatches?: GmailWatchUpkeepSummary };

/** The share of a run's budget the upkeep may use. */
const UPKEEP_BUDGET_SHARE = 0.25;

export const inboxSyncJob: Job<SyncParams, InboxSyncSummary> = {
  ...syncAllJob,
  run: async (ctx, params) => {
    const isScheduleRun = params.integrationId === undefined && !params.isFanoutChild;
    const pushSubscriptions = isScheduleRun ? await keepSubscriptions(ctx) : undefined;
    const gmailWatches = isScheduleRun ? await keepWatches(ctx) : undefined;
    const summary = await syncAllJob.run(ctx, params);
    return { ...summary, ...(pushSubscriptions ? { pushSubscriptions } : {}), ...(gmailWatches ? { gmailWatches } : {}) };
  },
};

/** The upkeep within its share of the budget; undefined when push is not configured (no PUBLIC_BASE_URL). */
async function keepSubscriptions(ctx: JobContext): Promise<PushUpkeepSummary | undefined> {
  const base = ctx.config.graph.notificationBaseUrl;
  if (!base) return undefined;
  const sliceMs = Math.max(1, Math.floor(ctx.budget.remainingMs() * UPKEEP_BUDGET_SHARE));
  const stopAtMs = ctx.budget.remainingMs() - sliceMs;
  const signal = AbortSignal.any([ctx.budget.signal, AbortSignal.timeout(sliceMs)]);
  try {
    return await keepGraphSubscriptions({
      db: ctx.db, config: ctx.config, now: ctx.now, log: ctx.log,
      notificationUrl: `${base}${GRAPH_NOTIFICATIONS_PATH}`,
      shouldStop: () => ctx.budget.remainingMs() <= stopAtMs,
      callOptions: { signal },
    });
  } catch (err) {
    ctx.log.warn("graph subscriptions not kept this run", { reason: shortReason(err) });
    return undefined;
  }
}

/** The Gmail watches' upkeep within its share of the budget; undefined without GMAIL_PUBSUB_TOPIC. */
async function keepWatches(ctx: JobContext): Promise<GmailWatchUpkeepSummary | undefined> {
  const topicName = ctx.config.gmail.pubsubTopic;
  if (!topicName) return undefined;
  const sliceMs = Math.max(1, Math.floor(ctx.budget.remainingMs() * UPKEEP_BUDGET_SHARE));
  const stopAtMs = ctx.budget.remainingMs() - sliceMs;
  try {
    return await keepGmailWatches({
      db: ctx.db, config: ctx.config, now: ctx.now, log: ctx.log, topicName,
      shouldStop: () => ctx.budget.remainingMs() <= stopAtMs,
    });
  } catch (err) {
    ctx.log.warn("gmail watches not kept this run", { reason: shortReason(err) });
    return undefined;
  }
}
