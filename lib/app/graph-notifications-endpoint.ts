// The route Microsoft Graph posts change and lifecycle notifications to (POST
// /api/inbox/graph/notifications, the URL every subscription names). Its rules, in order:
// - Graph's validation handshake is answered first (lib/graph/notification-endpoint.ts): no
//   database, no secret;
// - a notice counts only with the clientState whose hash its subscription row stores (the secret
//   is per subscription and never in the URL); its mailbox, named by that row alone, is made due now;
// - the answer goes out at once (Graph wants it within 3 s), then the mailbox is synced under the
//   cron's lease, kept alive by the platform's waitUntil (after-response.ts);
// - lifecycle notices: `missed` makes the mailbox due like a change, `reauthorizationRequired`
//   renews the subscription, `subscriptionRemoved` creates it again (after the answer too).

import { eq } from "drizzle-orm";
import type { Config } from "../config.js";
import { type Db, openDb } from "../db/client.js";
import { inboxIntegrations } from "../db/schema.js";
import { DatabaseUnavailableError, shortReason } from "../errors.js";
import { graphNotificationEndpoint } from "../graph/notification-endpoint.js";
import type { GraphFolder } from "../graph/mailbox-path.js";
import type { LifecycleNotice } from "../graph/parse-notifications.js";
import { graphClientStateHashOf, graphSubscriptionRow, markSubscribedMailboxDue } from "../graph/push-subscription-rows.js";
import { type PushUpkeepDeps, recreate, renewOrRecreate } from "../graph/push-upkeep.js";
import { type EndpointContext, type EndpointOptions, type GuardedEndpoint, guardedEndpoint } from "../http/endpoint.js";
import { invocationLimitMs } from "../jobs/budget.js";
import type { Logger } from "../log.js";
import { keepAfterResponse, type PlatformContext } from "./after-response.js";
import { syncOneMailbox } from "./sync-one-mailbox.js";

export const GRAPH_NOTIFICATIONS_PATH = "/api/inbox/graph/notifications";

/** The function's `maxDuration` on Vercel: the one-mailbox sync after the answer runs within it. */
export const GRAPH_NOTIFICATIONS_MAX_DURATION_S = 60;

/** The endpoint; a platform may pass its context (Netlify's, with `waitUntil`) as the second argument. */
export function graphNotificationsEndpoint(options: EndpointOptions = {}): GuardedEndpoint {
  const handler = (req: Request, platform?: PlatformContext): Promise<Response> =>
    guardedEndpoint("graph-notifications", ["POST"], options, (request, ctx) => answer(request, ctx, options, platform))(req);
  return Object.assign(handler, { methods: ["POST"] as const });
}

async function answer(req: Request, ctx: EndpointContext, options: EndpointOptions, platform: PlatformContext | undefined): Promise<Response> {
  const now = options.now ?? (() => new Date());
  let opened: { db: Db; close(): Promise<void> } | undefined;
  const database = async (): Promise<Db> => {
    if (options.db) return options.db;
    opened ??= await openDb(ctx.config.database).catch((err: unknown) => {
      throw new DatabaseUnavailableError(err);
    });
    return opened.db;
  };
  const due = new Set<number>();
  const lifecycle: LifecycleNotice[] = [];
  let response: Response;
  try {
    response = await graphNotificationEndpoint({
      clientStateHashOf: async (id) => graphClientStateHashOf(await database(), id),
      onChange: async (notice) => {
        const integrationId = await markSubscribedMailboxDue(await database(), notice.subscriptionId, now());
        if (integrationId !== undefined) due.add(integrationId);
      },
      onLifecycle: async (notice) => {
        if (notice.event !== "missed") lifecycle.push(notice);
        else {
          const integrationId = await markSubscribedMailboxDue(await database(), notice.subscriptionId, now());
          if (integrationId !== undefined) due.add(integrationId);
        }
      },
      log: ctx.log,
    })(req);
  } finally {
    await opened?.close();
  }
  if (due.size > 0 || lifecycle.length > 0) {
    const invocation = { startedAtMs: ctx.startedAtMs, limitMs: invocationLimitMs(ctx.config.platform, "request", GRAPH_NOTIFICATIONS_MAX_DURATION_S) };
    const work = async () => {
      await Promise.all([...due].map((id) => syncOneMailbox(id, { config: ctx.config, log: ctx.log, now, db: options.db, invocation })));
      if (lifecycle.length > 0) await answerLifecycle(lifecycle, ctx.config, options, ctx.log, now);
    };
    keepAfterResponse(work().catch((err: unknown) => ctx.log.warn("work after a graph notification failed", { reason: shortReason(err) })), platform);
  }
  return response;
}

/** Renews or recreates the subscriptions named by verified lifecycle notices; logs, never throws. */
async function answerLifecycle(notices: LifecycleNotice[], config: Config, options: EndpointOptions, log: Logger, now: () => Date): Promise<void> {
  const base = config.graph.notificationBaseUrl;
  if (!base) return;
  const opened = options.db ? undefined : await openDb(config.database).catch(() => undefined);
  const db = options.db ?? opened?.db;
  if (!db) return;
  try {
    const deps: PushUpkeepDeps = { db, config, now, log, notificationUrl: `${base}${GRAPH_NOTIFICATIONS_PATH}` };
    for (const notice of notices) {
      try {
        const row = await graphSubscriptionRow(db, notice.subscriptionId);
        if (!row) continue;
        const [integration] = await db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, row.integrationId));
        if (!integration?.isActive || integration.mailTransport !== "graph") continue;
        if (notice.event === "reauthorizationRequired") await renewOrRecreate(deps, integration, row);
        else await recreate(deps, integration, row.folder as GraphFolder);
      } catch (err) {
        // The next run's upkeep renews or recreates it; polling covers the gap.
        log.warn("graph lifecycle notice not acted on", { event: notice.event, reason: shortReason(err) });
      }
    }
  } finally {
    await opened?.close();
  }
}
