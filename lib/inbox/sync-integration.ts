// Syncs one claimed integration: one session of its mail source (IMAP, or Microsoft Graph or the
// Gmail API when its `mail_transport` says so) for its folders (its `synced_folders`: INBOX and Sent by default, see
// `imap/folder-plan.ts`, `graph/graph-source.ts`, `gmail/gmail-source.ts`), then its result recorded (status,
// counters, next run, lease released) and its owner alerted if it keeps failing. Never throws for a
// mailbox problem: one failing mailbox must not fail the run.

import { eq } from "drizzle-orm";
import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import { SYNC_STATUS, inboxIntegrations } from "../db/schema.js";
import { ERROR_KINDS, JobError, kindOf, shortReason, type ErrorKind } from "../errors.js";
import type { Budget } from "../jobs/budget.js";
import { type ClaimedIntegration, releaseIntegration } from "./claim-integrations.js";
import { SessionRefusedError } from "../mail/imap.js";
import type { Logger } from "../log.js";
import { reviewIntegrationAlert } from "../notify/mailbox-alerts.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import type { GraphClientOptions } from "../graph/graph-client.js";
import type { GmailClientOptions } from "../gmail/gmail-client.js";
import { withGmailSource } from "./gmail/gmail-source.js";
import { withGraphSource } from "./graph/graph-source.js";
import { withImapSource } from "./imap/imap-source.js";
import type { MailSource } from "./mail-source.js";
import { recordSyncFailure, recordSyncSuccess } from "./record-sync-result.js";
import type { SuccessRecorder } from "./success-recorder.js";
import { emptySyncResult, type MailboxSyncResult, syncMailbox } from "./sync-mailbox.js";

export interface IntegrationSyncContext {
  db: Db;
  config: Config;
  log: Logger;
  now: () => Date;
  budget: Budget;
  owner: string;
  storage: AttachmentStorage;
  /** Stop taking batches when less than this is left of the budget. */
  reserveMs: number;
  /** Fires when the mail source's session must end at once (the budget's hard stop). */
  hardStop: AbortSignal;
  /** Where plain successes are queued to be recorded in batches; without it each is recorded at once. */
  successes?: SuccessRecorder;
  /** Graph clients' waits and per-mailbox limit, when not the process's own (tests record the waits). */
  graph?: Pick<GraphClientOptions, "sleep" | "limiter">;
  /** Gmail clients' waits and quota pace, when not the process's own (tests record the waits). */
  gmail?: Pick<GmailClientOptions, "sleep" | "limiter" | "random">;
}

export type IntegrationSyncOutcome =
  | ({ status: "success" } & MailboxSyncResult)
  | ({ status: "failed"; kind: ErrorKind; reason: string } & MailboxSyncResult)
  /** The host turned the session away at the door while the run had others open there: nothing recorded, lease freed. */
  | ({ status: "refused"; reason: string } & MailboxSyncResult);

export interface IntegrationSyncOptions {
  /**
   * Asked when the host refuses the session at login: true when the run had other sessions there
   * alongside this one, so the refusal is the run's own concurrency (`host-concurrency.ts`), not the
   * mailbox's failure, and the mailbox is freed, still due, unmarked.
   */
  isRefusalTheRunsOwn?: () => boolean;
}

/** Syncs `integration` and records how it went. */
export async function syncIntegration(
  ctx: IntegrationSyncContext,
  integration: ClaimedIntegration,
  options: IntegrationSyncOptions = {},
): Promise<IntegrationSyncOutcome> {
  const log = ctx.log.with({ integrationId: integration.id });
  const startedMs = performance.now();
  const folderResults: MailboxSyncResult[] = [];
  let outcome: IntegrationSyncOutcome;
  try {
    await withMailSource(ctx, integration, async (source, sessionLog) => {
      const folders = await source.listFolders(integration.syncedFolders);
      sessionLog.debug("folders to sync", { folders: folders.map((f) => `${f.role}:${f.path}`) });
      for (const folder of folders) {
        const folderResult = emptySyncResult();
        folderResults.push(folderResult);
        await syncMailbox(
          {
            db: ctx.db, source, log: sessionLog, integration, owner: ctx.owner, now: ctx.now, budget: ctx.budget,
            reserveMs: ctx.reserveMs, storage: ctx.storage,
            maxMessageBytes: ctx.config.maxMessageBytes, maxAttachmentBytes: ctx.config.maxAttachmentBytes,
          },
          folder,
          folderResult,
        );
        // The next folder waits until this one is caught up: the Sent folder's answers are
        // filed after the INBOX mail they answer.
        if (folderResult.hasMore) break;
      }
    });
    const hasMore = sum(folderResults).hasMore;
    // Nothing left and no alert to clear: the run writes it with others in one batch.
    if (ctx.successes && !hasMore && !integration.failureAlertedAt) ctx.successes.add(integration.id);
    else await recordSyncSuccess(ctx.db, integration, ctx.owner, { hasMore }, ctx.now());
    outcome = { status: "success", ...sum(folderResults) };
  } catch (err) {
    const progress = sum(folderResults);
    if (ctx.hardStop.aborted && progress.imported + progress.setAside > 0) {
      // Cut at the run's deadline after making progress (a large import on a slow link): work is
      // left, nothing failed. Counting it as a failure would back the mailbox off and raise alerts
      // while its mail is in fact coming in.
      log.info("integration sync cut at the run budget, work left", { imported: progress.imported });
      await recordSyncSuccess(ctx.db, integration, ctx.owner, { hasMore: true }, ctx.now());
      outcome = { status: "success", ...progress, hasMore: true };
    } else if (err instanceof SessionRefusedError && options.isRefusalTheRunsOwn?.()) {
      log.info("integration session refused by its busy host, left due", { reason: err.message });
      await releaseIntegration(ctx.db, integration.id, ctx.owner);
      outcome = { status: "refused", reason: err.message, ...progress };
    } else {
      const kind = kindOf(err);
      const reason = err instanceof JobError ? shortReason(err) : `unexpected error: ${shortReason(err)}`;
      log[ERROR_KINDS[kind].level]("integration sync failed", { kind, reason });
      await recordSyncFailure(ctx.db, integration, ctx.owner, { kind, reason }, ctx.now());
      outcome = { status: "failed", kind, reason, ...progress };
    }
  }
  const totals = sum(folderResults);
  log.info("integration synced", {
    status: outcome.status, imported: totals.imported, setAside: totals.setAside, hasMore: totals.hasMore,
    durationMs: Math.round(performance.now() - startedMs),
  });
  // A success with no alert outstanding has nothing to review: spare the idle mailbox a database round trip.
  if (outcome.status === "failed" || integration.failureAlertedAt) await reviewAlert(ctx, integration, log);
  return outcome;
}

/** The integration's mail source, by its transport. */
async function withMailSource(
  ctx: IntegrationSyncContext,
  integration: ClaimedIntegration,
  read: (source: MailSource, log: Logger) => Promise<void>,
): Promise<void> {
  switch (integration.mailTransport) {
    case "imap":
      return withImapSource(ctx, integration, read);
    case "graph":
      return withGraphSource(ctx, integration, read);
    case "gmail-api":
      return withGmailSource(ctx, integration, read);
  }
}

function sum(results: MailboxSyncResult[]): MailboxSyncResult {
  const totals = emptySyncResult();
  for (const r of results) {
    totals.imported += r.imported;
    totals.duplicates += r.duplicates;
    totals.setAside += r.setAside;
    totals.hasMore ||= r.hasMore;
  }
  return totals;
}

/** Tells the owner once when the mailbox keeps failing, and once when it recovers; never fails the sync. */
async function reviewAlert(ctx: IntegrationSyncContext, integration: ClaimedIntegration, log: Logger): Promise<void> {
  try {
    const [row] = await ctx.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integration.id));
    if (!row) return;
    await reviewIntegrationAlert(
      ctx.db,
      {
        id: row.id,
        companyId: row.companyId,
        name: row.name,
        emailAddress: row.emailAddress,
        isFailing: row.lastSyncStatus === SYNC_STATUS.error,
        isAuthRejected: row.lastSyncStatus === SYNC_STATUS.error && row.authFailures > 0,
        failingSince: row.failingSince,
        failureAlertedAt: row.failureAlertedAt,
        lastSyncError: row.lastSyncError,
        lastSyncErrorKind: row.lastSyncErrorKind,
        isOAuth: row.authMethod === "oauth2",
      },
      { now: ctx.now(), log, webhookUrl: ctx.config.alertWebhookUrl, timeZone: ctx.config.operatorTimeZone },
    );
  } catch (err) {
    log.warn("integration alert could not be reviewed", { err: shortReason(err) });
  }
}
