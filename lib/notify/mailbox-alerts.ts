// Tells a company's users, once, when one of its mailboxes keeps failing to sync, and once again
// when it recovers: a `notifications` row, and the same event as JSON to ALERT_WEBHOOK_URL if set.
// "Keeps failing" = the server rejected the login, or failures have lasted over an hour (a single
// timeout is routine and must not page anyone).

import { and, eq, isNotNull, isNull } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { inboxIntegrations, notifications } from "../db/schema.js";
import { ERROR_KINDS, type ErrorKind } from "../errors.js";
import type { Logger } from "../log.js";
import { delegateOf } from "../mailbox-identity.js";

/** How long transient failures may last before the owner is told. */
export const FAILURE_ALERT_AFTER_MS = 60 * 60 * 1000;
const WEBHOOK_TIMEOUT_MS = 5_000;

export type AlertEvent = "integration.failing" | "integration.recovered";

/** The state of an integration just after its sync result was recorded. */
export interface IntegrationHealth {
  id: number;
  companyId: number;
  name: string | null;
  emailAddress: string | null;
  isFailing: boolean;
  isAuthRejected: boolean;
  failingSince: Date | null;
  failureAlertedAt: Date | null;
  lastSyncError: string | null;
  /** The kind of `lastSyncError`, which gives the notice its French wording. */
  lastSyncErrorKind?: ErrorKind | null;
  /** Logs in with OAuth2: a refused login is fixed by connecting it again, not by a password. */
  isOAuth?: boolean;
}

export interface AlertContext {
  now: Date;
  log: Logger;
  webhookUrl?: string;
  /** The zone the notice writes its dates in (OPERATOR_TIME_ZONE). */
  timeZone?: string;
}

/** Raises or clears the failure alert of one integration, once each, even when two runs race. */
export async function reviewIntegrationAlert(db: Db, health: IntegrationHealth, ctx: AlertContext): Promise<AlertEvent | null> {
  const label = health.name || health.emailAddress || `#${health.id}`;
  const failingForMs = health.failingSince ? ctx.now.getTime() - health.failingSince.getTime() : 0;
  const shouldAlert = health.isFailing && (health.isAuthRejected || failingForMs >= FAILURE_ALERT_AFTER_MS);
  let event: AlertEvent | null = null;
  if (shouldAlert && !health.failureAlertedAt) {
    const since = `depuis le ${frenchDate(health.failingSince ?? ctx.now, ctx.timeZone)}`;
    const wording = health.lastSyncErrorKind ? ERROR_KINDS[health.lastSyncErrorKind].operatorWording : "erreur inconnue";
    const detail = health.lastSyncError ? ` Détail : ${health.lastSyncError}` : "";
    event = await flipAlert(db, health, ctx.now, {
      event: "integration.failing",
      type: "inbox_sync_failing",
      title: `La boîte mail ${label} ne se synchronise plus`,
      message: !health.isAuthRejected
        ? `La synchronisation de ${label} échoue depuis plus d'une heure (${since}) : ${wording}.${detail}`
        : health.isOAuth
          ? `Le serveur refuse l'accès OAuth2 de ${label} (${since}). Reconnectez la boîte mail.`
          : `Le serveur refuse l'identifiant ou le mot de passe de ${label} (${since}). Mettez à jour le mot de passe de la boîte mail.`,
    });
  } else if (!health.isFailing && health.failureAlertedAt) {
    event = await flipAlert(db, health, null, {
      event: "integration.recovered",
      type: "inbox_sync_recovered",
      title: `La boîte mail ${label} se synchronise de nouveau`,
      message: `La synchronisation de ${label} fonctionne de nouveau.`,
    });
  }
  if (event) {
    ctx.log.warn("integration alert", { event, integrationId: health.id, companyId: health.companyId });
    if (ctx.webhookUrl) await postWebhook(ctx.webhookUrl, { event, at: ctx.now.toISOString(), integrationId: health.id, companyId: health.companyId, reason: health.lastSyncError }, ctx.log);
  }
  return event;
}

/**
 * Tells the company once that an OAuth2 mailbox must be connected again (the provider refused its
 * grant). Shares the failure mark with the sync alert, so the sync does not tell it a second time,
 * and the first successful sync after reconnecting says it recovered.
 */
export async function alertReconnectionNeeded(
  db: Db,
  integration: { id: number; companyId: number; name: string | null; emailAddress: string | null; oauthConsentingAccount: string | null; reason: string },
  ctx: AlertContext,
): Promise<boolean> {
  const label = integration.name || integration.emailAddress || `#${integration.id}`;
  const delegate = delegateOf(integration);
  const event = await flipAlert(
    db,
    { ...integration, isFailing: true, isAuthRejected: true, failingSince: ctx.now, failureAlertedAt: null, lastSyncError: integration.reason },
    ctx.now,
    {
      event: "integration.failing",
      type: "inbox_reconnect_needed",
      title: `La boîte mail ${label} doit être reconnectée`,
      message: delegate
        ? `L'accès à la boîte partagée ${integration.emailAddress} donné par le compte ${delegate} a été révoqué ou a expiré, ou ce compte n'a plus accès à la boîte. Un membre ayant accès à la boîte partagée peut la reconnecter : la synchronisation et les relances reprennent, son historique est conservé.`
        : `L'accès à ${label} a été révoqué ou a expiré chez le fournisseur. Reconnectez la boîte mail pour reprendre la synchronisation et les relances.`,
    },
  );
  if (!event) return false;
  ctx.log.warn("integration alert", { event, integrationId: integration.id, companyId: integration.companyId, reconnect: true });
  if (ctx.webhookUrl) {
    await postWebhook(ctx.webhookUrl, { event, at: ctx.now.toISOString(), integrationId: integration.id, companyId: integration.companyId, reason: integration.reason, needsReconnection: true }, ctx.log);
  }
  return true;
}

/**
 * Sets (`alertedAt`) or clears (null) the integration's alert mark and writes the notification, in
 * one transaction; only the run whose conditional update wins does it, so each event happens once.
 */
async function flipAlert(
  db: Db,
  health: IntegrationHealth,
  alertedAt: Date | null,
  notice: { event: AlertEvent; type: string; title: string; message: string },
): Promise<AlertEvent | null> {
  return db.transaction(async (tx) => {
    const isInPreviousState = alertedAt ? isNull(inboxIntegrations.failureAlertedAt) : isNotNull(inboxIntegrations.failureAlertedAt);
    const flipped = await tx
      .update(inboxIntegrations)
      .set({ failureAlertedAt: alertedAt })
      .where(and(eq(inboxIntegrations.id, health.id), isInPreviousState))
      .returning({ id: inboxIntegrations.id });
    if (flipped.length === 0) return null;
    await tx.insert(notifications).values({ companyId: health.companyId, type: notice.type, title: notice.title, message: notice.message });
    return notice.event;
  });
}

/** "25/11/2026 10:00 UTC+1": a notice is read later, by someone who must not guess the zone. */
function frenchDate(at: Date, timeZone = "Europe/Paris"): string {
  return new Intl.DateTimeFormat("fr-FR", { day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", timeZone, timeZoneName: "short" }).format(at);
}

/** Best effort: an unreachable webhook is logged, never fails the sync. */
async function postWebhook(url: string, payload: Record<string, unknown>, log: Logger): Promise<void> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    if (!response.ok) log.warn("alert webhook answered with an error", { status: response.status });
  } catch (err) {
    log.warn("alert webhook unreachable", { error: err instanceof Error ? err.message : String(err) });
  }
}
