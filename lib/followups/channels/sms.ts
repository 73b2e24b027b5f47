// The SMS channel: the steps of follow-up types a company chose to send as text messages, through
// its own SMS account or the deployment's (Vonage or an SMPP gateway). A step is prepared with what
// only a text needs (an account, a client who has not answered STOP, a length within the company's
// cap) and rendered as plain text; sent, it is claimed, submitted and recorded (send-sms.ts). The
// run's provider sessions are kept from text to text (sms-run.ts).

import { hasOptedOut } from "../../sms/record-delivery.js";
import { resolveSmsAccount, type SmsAccount } from "../../sms/sms-account.js";
import { smsLength, withGsmLookAlikes } from "../../sms/segments.js";
import { AccountSlots } from "../account-slots.js";
import { renderFollowup, smsTemplateFor } from "../render.js";
import { type ChannelContext, type Draft, type DueStep, failureOf, type FollowupChannel, type OpenChannel, outcomeOfSend, type ReportOutcome } from "./channel.js";
import { sendSmsFollowup, smsSubject } from "./send-sms.js";
import { createSmsRun, type SmsRun } from "./sms-run.js";

/** A step's text, ready for its account. */
interface SmsDraft extends Draft {
  readonly text: string;
  readonly segments: number;
  readonly account: SmsAccount;
  readonly senderName: string;
}

/**
 * The slot every text message of a run takes: one text at a time for the whole run, as the SMS
 * channel was written for; its accounts' sessions and "down" rule then stay as they are whatever
 * the number of workers.
 */
const SMS_SLOT = "sms";

export const smsChannel: FollowupChannel = {
  name: "sms",
  open(ctx: ChannelContext): OpenChannel<SmsDraft> {
    const run = createSmsRun(ctx.db, ctx.log, ctx.now);
    const slots = new AccountSlots();
    return {
      name: "sms",
      carries: (step) => step.medium === "sms",
      prepare: (step) => prepareSms(ctx, step),
      async send(drafts, report) {
        // Texts do not look at the run's budget: only the start of a batch does (process-automatic.ts).
        for (const draft of drafts) await sendSms(ctx, { run, slots }, draft, report);
        return true;
      },
      close: () => run.closeAll(),
    };
  },
};

async function prepareSms(ctx: ChannelContext, step: DueStep): Promise<SmsDraft | { skip: string }> {
  const { candidate, company, decision, recipient } = step;
  if (await hasOptedOut(ctx.db, candidate.companyId, recipient)) return { skip: "sms_opted_out" };
  const account = resolveSmsAccount(ctx.config, company.name, company.settings.sms);
  if ("unavailable" in account) return { skip: account.unavailable };
  const text = withGsmLookAlikes(renderFollowup({
    type: candidate.type,
    isBeforeDue: decision.isBeforeDue,
    template: smsTemplateFor(company.settings.templates, candidate.type),
    values: step.values,
  }).text);
  const { segments } = smsLength(text);
  if (segments > account.maxSegments) return { skip: "sms_too_long" };
  return {
    step, text, segments, account: account.account, senderName: account.senderName,
    plan: { followupId: candidate.id, step: decision.step, to: recipient, channel: "sms", text, segments, subject: smsSubject(segments) },
  };
}

/** Sends one text through the run's slot, unless its account went down this run. */
async function sendSms(ctx: ChannelContext, state: { run: SmsRun; slots: AccountSlots }, draft: SmsDraft, report: ReportOutcome<SmsDraft>): Promise<void> {
  const { candidate, company, decision, recipient, isLastAllowed, now } = draft.step;
  const release = await state.slots.acquire(SMS_SLOT, 1);
  try {
    const provider = state.run.providerFor(draft.account);
    if (state.run.downAccounts.has(provider.key)) return report(draft, { outcome: "skipped", reason: "sms_provider_unavailable" });
    const outcome = await sendSmsFollowup(ctx.db, {
      followupId: candidate.id, companyId: candidate.companyId, clientId: candidate.clientId, step: decision.step, recipient,
      text: draft.text, segments: draft.segments, senderName: draft.senderName, provider, now,
      timeZone: company.settings.sendingWindow.timeZone, isLastAllowed,
      onRecorded: () => state.run.retryEarlyReceipts(),
    }, ctx.log.with({ companyId: candidate.companyId }));
    if (outcome.outcome === "failed" && outcome.isServerDown) state.run.downAccounts.add(provider.key);
    report(draft, outcomeOfSend(draft.step, outcome));
  } catch (err) {
    report(draft, failureOf(draft.step, err, ctx.log));
  } finally {
    release();
  }
}
