// The upkeep of Graph change-notification subscriptions, one per folder (inbox, sentitems) of every
// active Graph mailbox: created when missing, renewed before they expire, recorded `refused` when
// Graph will not give one (a shared mailbox: delegated tokens cannot subscribe there; it is then
// polled, as every mailbox is anyway), and deleted once the mailbox is disabled, removed or moved to
// another transport. Polling stays the safety net throughout: a mailbox without a working
// subscription is only slower, never missed. The lifecycle notices (reauthorizationRequired,
// subscriptionRemoved) come here too.

import { and, eq, ne, or } from "drizzle-orm";
import { inboxIntegrations, mailPushSubscriptions } from "../db/schema.js";
import { shortReason } from "../errors.js";
import type { AccessTokenDeps } from "../oauth/access-token.js";
import { hashClientState, newClientState } from "./client-state.js";
import { deleteSubscription } from "./delete-subscription.js";
import type { CallOptions, GraphClient } from "./graph-client.js";
import { GraphError } from "./graph-error.js";
import { graphClientFor, graphMailboxOf, type GraphIntegration } from "./integration-client.js";
import type { GraphFolder, GraphMailbox } from "./mailbox-path.js";
import {
  type GraphSubscriptionRow, graphSubscriptionsOf, saveActiveSubscription, saveInactiveSubscription,
} from "./push-subscription-rows.js";
import { isRenewalDue, renewSubscription } from "./renew-subscription.js";
import { subscribeToFolder } from "./subscribe-to-folder.js";

/** The folders subscribed to, by the sync's folder role. */
const FOLDER_OF_ROLE = { inbox: "inbox", sent: "sentitems" } as const satisfies Record<string, GraphFolder>;

/** A refused subscription is asked for again after this long: the tenant's permissions may have changed. */
export const REFUSED_RETRY_MS = 24 * 3_600_000;

/** Why a shared mailbox has no subscription, in the operator's words. */
export const SHARED_MAILBOX_REFUSAL = "Microsoft refuse les notifications d'une boîte partagée ouverte avec une autorisation déléguée";

export interface PushUpkeepDeps extends AccessTokenDeps {
  /** The public URL Graph posts notifications to (PUBLIC_BASE_URL + the route's path). */
  notificationUrl: string;
  /** When to stop starting Graph calls (the run's budget); none: never. */
  shouldStop?: () => boolean;
  callOptions?: CallOptions;
  /** Tests: the Graph client of an integration (the integration's own token otherwise). */
  clientFor?: (integration: GraphIntegration) => GraphClient;
}

export interface PushUpkeepSummary {
  created: number;
  renewed: number;
  refused: number;
  deleted: number;
  failed: number;
}

type MailboxRow = GraphIntegration & { isActive: boolean; mailTransport: string; syncedFolders: string[] };

/** One pass over every Graph mailbox and every Graph subscription row; never throws for one mailbox. */
export async function keepGraphSubscriptions(deps: PushUpkeepDeps): Promise<PushUpkeepSummary> {
  const summary: PushUpkeepSummary = { created: 0, renewed: 0, refused: 0, deleted: 0, failed: 0 };
  const i = inboxIntegrations;
  const columns = {
    id: i.id, emailAddress: i.emailAddress, oauthConsentingAccount: i.oauthConsentingAccount,
    isActive: i.isActive, mailTransport: i.mailTransport, syncedFolders: i.syncedFolders,
  };
  const graphMailboxes: MailboxRow[] = await deps.db.select(columns).from(i).where(and(eq(i.isActive, true), eq(i.mailTransport, "graph")));
  // Mailboxes that still hold an active subscription but are no longer active Graph mailboxes.
  const s = mailPushSubscriptions;
  const leaving: MailboxRow[] = await deps.db
    .selectDistinct(columns)
    .from(s)
    .innerJoin(i, eq(i.id, s.integrationId))
    .where(and(eq(s.provider, "graph"), eq(s.state, "active"), or(eq(i.isActive, false), ne(i.mailTransport, "graph"))));
  for (const mailbox of graphMailboxes) {
    if (deps.shouldStop?.()) break;
    await keepMailbox(deps, mailbox, summary);
  }
  for (const mailbox of leaving) {
    if (deps.shouldStop?.()) break;
    await dropMailbox(deps, mailbox, summary);
  }
  if (summary.created + summary.renewed + summary.refused + summary.deleted + summary.failed > 0) {
    deps.log.info("graph subscriptions kept", { ...summary });
  }
  return summary;
}

/** Renews subscription row `row` (a `reauthorizationRequired` notice), or creates it again when Graph no longer has it. */
export async function renewOrRecreate(deps: PushUpkeepDeps, integration: GraphIntegration, row: GraphSubscriptionRow): Promise<void> {
  const { client, mailbox } = graphOf(deps, integration);
  const renewed = row.subscriptionId ? await renewSubscription(client, mailbox, row.subscriptionId, deps.callOptions) : { kind: "gone" as const };
  if (renewed.kind === "renewed") await saveActiveSubscription(deps.db, integration.id, row.folder as GraphFolder, renewed.subscription, undefined, deps.now());
  else await createSubscription(deps, integration, row.folder as GraphFolder, client, mailbox);
}

/** Creates `folder`'s subscription again (a `subscriptionRemoved` notice). */
export async function recreate(deps: PushUpkeepDeps, integration: GraphIntegration, folder: GraphFolder): Promise<void> {
  const { client, mailbox } = graphOf(deps, integration);
  await createSubscription(deps, integration, folder, client, mailbox);
}

async function keepMailbox(deps: PushUpkeepDeps, integration: MailboxRow, summary: PushUpkeepSummary): Promise<void> {
  const log = deps.log.with({ integrationId: integration.id });
  try {
    const rows = await graphSubscriptionsOf(deps.db, integration.id);
    const folders = integration.syncedFolders.flatMap((role) => (role in FOLDER_OF_ROLE ? [FOLDER_OF_ROLE[role as keyof typeof FOLDER_OF_ROLE]] : []));
    const now = deps.now();
    let graph: { client: GraphClient; mailbox: GraphMailbox } | undefined;
    for (const folder of folders) {
      const row = rows.find((r) => r.folder === folder);
      const action = actionFor(row, now);
      if (action === "none") continue;
      graph ??= graphOf(deps, integration);
      if (action === "renew" && row?.subscriptionId) {
        const renewed = await renewSubscription(graph.client, graph.mailbox, row.subscriptionId, deps.callOptions);
        if (renewed.kind === "renewed") {
          await saveActiveSubscription(deps.db, integration.id, folder, renewed.subscription, undefined, deps.now());
          summary.renewed++;
          continue;
        }
      }
      const outcome = await createSubscription(deps, integration, folder, graph.client, graph.mailbox);
      summary[outcome]++;
    }
    // A folder no longer synced keeps no subscription.
    for (const row of rows.filter((r) => r.state === "active" && !folders.includes(r.folder as GraphFolder))) {
      graph ??= graphOf(deps, integration);
      await drop(deps, integration.id, row, graph);
      summary.deleted++;
    }
  } catch (err) {
    // Graph down, the token refused: the subscription stays as it was, the next run tries again; polling goes on.
    summary.failed++;
    log.warn("graph subscription not kept", { reason: shortReason(err) });
  }
}

async function dropMailbox(deps: PushUpkeepDeps, integration: MailboxRow, summary: PushUpkeepSummary): Promise<void> {
  const rows = (await graphSubscriptionsOf(deps.db, integration.id)).filter((r) => r.state === "active");
  let graph: { client: GraphClient; mailbox: GraphMailbox } | undefined;
  for (const row of rows) {
    try {
      graph ??= graphOf(deps, integration);
      await drop(deps, integration.id, row, graph);
    } catch (err) {
      // Its token may be gone with it: Graph drops the subscription at its expiry, and its notices
      // are already ignored (the row is no longer active).
      deps.log.warn("graph subscription not deleted", { integrationId: integration.id, reason: shortReason(err) });
      await saveInactiveSubscription(deps.db, integration.id, row.folder, "removed", null, deps.now());
    }
    summary.deleted++;
  }
}

async function drop(deps: PushUpkeepDeps, integrationId: number, row: GraphSubscriptionRow, graph: { client: GraphClient; mailbox: GraphMailbox }): Promise<void> {
  // Marked removed first: a notice arriving during the deletion is then ignored.
  await saveInactiveSubscription(deps.db, integrationId, row.folder, "removed", null, deps.now());
  if (row.subscriptionId) await deleteSubscription(graph.client, graph.mailbox, row.subscriptionId, deps.callOptions);
}

/** What `row` needs now: nothing, a renewal, or a new subscription. */
function actionFor(row: GraphSubscriptionRow | undefined, now: Date): "none" | "renew" | "create" {
  if (!row || row.state === "removed" || !row.subscriptionId) {
    if (row?.state === "refused" && now.getTime() - row.updatedAt.getTime() < REFUSED_RETRY_MS) return "none";
    return "create";
  }
  if (!row.expiresAt || row.expiresAt <= now) return "create";
  return isRenewalDue(row.expiresAt, now) ? "renew" : "none";
}

/** Asks Graph for `folder`'s subscription with a fresh clientState; a 403 is recorded as refused, anything else thrown. */
async function createSubscription(
  deps: PushUpkeepDeps, integration: GraphIntegration, folder: GraphFolder, client: GraphClient, mailbox: GraphMailbox,
): Promise<"created" | "refused"> {
  const clientState = newClientState();
  try {
    const subscription = await subscribeToFolder(client, mailbox, {
      folder, notificationUrl: deps.notificationUrl, lifecycleNotificationUrl: deps.notificationUrl, clientState,
    }, deps.callOptions);
    await saveActiveSubscription(deps.db, integration.id, folder, subscription, hashClientState(clientState), deps.now());
    return "created";
  } catch (err) {
    if (!(err instanceof GraphError) || err.status !== 403) throw err;
    const reason = mailbox.isShared ? SHARED_MAILBOX_REFUSAL : `Microsoft a refusé l'abonnement aux notifications (${shortReason(err)})`;
    await saveInactiveSubscription(deps.db, integration.id, folder, "refused", reason, deps.now());
    return "refused";
  }
}

function graphOf(deps: PushUpkeepDeps, integration: GraphIntegration): { client: GraphClient; mailbox: GraphMailbox } {
  return { client: deps.clientFor?.(integration) ?? graphClientFor(integration, deps), mailbox: graphMailboxOf(integration) };
}
