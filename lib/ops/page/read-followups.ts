// The follow-ups as an operator sees them: what a run would send now, what goes out at the next
// opening of a sending window, why the others wait, uncertain sends, and refused sends. The
// follow-up job itself decides, in dry-run mode, so the page cannot disagree with the next run.

import { desc, eq } from "drizzle-orm";
import type { Config } from "../../config.js";
import type { Db } from "../../db/client.js";
import { companies, companySettings, followupSendAttempts } from "../../db/schema.js";
import { type AccountQuotaWait, listQuotaWaits } from "../../followups/account-limits.js";
import type { PlannedEmail } from "../../followups/process-automatic.js";
import { listUncertainAttempts, type UncertainAttempt } from "../../followups/resolve-uncertain.js";
import { nextWindowOpening } from "../../followups/sending-window.js";
import { parseFollowupSettings } from "../../followups/settings.js";
import type { Logger } from "../../log.js";
import { dryRunFollowups } from "../cron-status.js";

export interface RefusedSend {
  id: number;
  followupId: number;
  step: number;
  channel: string;
  recipient: string;
  error: string | null;
  finishedAt: Date | null;
}

export interface FollowupsView {
  sendNow: PlannedEmail[];
  waitingByReason: Record<string, number>;
  wouldCloseByReason: Record<string, number>;
  /**
   * When some wait for their window: the earliest opening among the companies, and what leaves then
   * that does not leave now (what leaves now will have gone by then).
   */
  nextOpening: { at: Date; emails: PlannedEmail[] } | undefined;
  uncertain: UncertainAttempt[];
  refused: RefusedSend[];
  /** Sending accounts whose provider answered with its quota, and until when they wait. */
  quotaWaits: AccountQuotaWait[];
}

const REFUSED_SHOWN = 20;

export async function readFollowups(db: Db, ctx: { config: Config; log: Logger; now: Date }): Promise<FollowupsView> {
  const atNow = await dryRunFollowups(db, { config: ctx.config, log: ctx.log, now: () => ctx.now });
  let nextOpening: FollowupsView["nextOpening"];
  if ((atNow.skippedByReason.outside_sending_window ?? 0) > 0) {
    const at = await earliestWindowOpening(db, ctx.now);
    if (at) {
      const then = await dryRunFollowups(db, { config: ctx.config, log: ctx.log, now: () => at });
      const leavingNow = new Set((atNow.wouldSend ?? []).map((e) => e.followupId));
      nextOpening = { at, emails: (then.wouldSend ?? []).filter((e) => !leavingNow.has(e.followupId)) };
    }
  }
  const refused = await db
    .select({
      id: followupSendAttempts.id, followupId: followupSendAttempts.followupId, step: followupSendAttempts.step, channel: followupSendAttempts.channel,
      recipient: followupSendAttempts.recipient, error: followupSendAttempts.error, finishedAt: followupSendAttempts.finishedAt,
    })
    .from(followupSendAttempts)
    .where(eq(followupSendAttempts.state, "failed"))
    .orderBy(desc(followupSendAttempts.id))
    .limit(REFUSED_SHOWN);
  return {
    sendNow: atNow.wouldSend ?? [],
    waitingByReason: atNow.skippedByReason,
    wouldCloseByReason: atNow.closedByReason,
    nextOpening,
    uncertain: await listUncertainAttempts(db),
    refused,
    quotaWaits: await listQuotaWaits(db, ctx.now),
  };
}

/** The first instant after `now` when some company's sending window opens. */
async function earliestWindowOpening(db: Db, now: Date): Promise<Date | undefined> {
  const rows = await db
    .select({ settings: companySettings.settings })
    .from(companies)
    .leftJoin(companySettings, eq(companySettings.companyId, companies.id));
  const openings = rows
    .map((row) => nextWindowOpening(now, parseFollowupSettings(row.settings ?? {}).settings.sendingWindow)?.getTime())
    .filter((ms): ms is number => ms !== undefined && ms > now.getTime());
  return openings.length ? new Date(Math.min(...openings)) : undefined;
}
