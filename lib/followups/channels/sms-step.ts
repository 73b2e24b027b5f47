// One due step of a follow-up whose company chose SMS: checks what only a text needs (an account,
// a client who has not answered STOP, a length within the company's cap), renders the template as
// plain text, and hands it to the SMS channel, or to the plan of a dry run. Also the run's SMS
// accounts: one provider session per account for the whole run, closed at its end, and the SMPP
// receipts and STOP texts they receive while bound, recorded as they come.

import type { Config } from "../../config.js";
import type { Db } from "../../db/client.js";
import type { Logger } from "../../log.js";
import { hasOptedOut, recordDeliveryReceipt, recordInboundText } from "../../sms/record-delivery.js";
import { type SmsAccount, resolveSmsAccount } from "../../sms/sms-account.js";
import type { SmsProvider } from "../../sms/sms-provider.js";
import { smppProvider } from "../../sms/smpp-client.js";
import type { InboundSmsEvent } from "../../sms/smpp-deliver.js";
import { smsLength, withGsmLookAlikes } from "../../sms/segments.js";
import { vonageProvider } from "../../sms/vonage-client.js";
import type { DueDecision } from "../due-steps.js";
import type { CompanyContext } from "../load-company.js";
import { renderFollowup, templateValuesOf } from "../render.js";
import type { FollowupCandidate } from "../select-candidates.js";
import type { SourceState } from "../source-state.js";
import type { SendOutcome } from "./channel.js";
import { smsChannel, smsTemplateFor } from "./sms.js";

export type SmsStepResult =
  | { kind: "skip"; reason: string }
  | { kind: "planned"; to: string; text: string; segments: number }
  | { kind: "sent"; outcome: SendOutcome; accountKey: string };

export interface SmsRun {
  /** Accounts that failed this run (unreachable, throttled, bind refused): not tried again until the next. */
  downAccounts: Set<string>;
  providerFor(account: SmsAccount): SmsProvider;
  /** Records the receipts that arrived before their send was recorded. */
  retryEarlyReceipts(): Promise<void>;
  closeAll(): Promise<void>;
}

/** The run's SMS sessions; receipts arriving on them are recorded in `db`. */
export function createSmsRun(db: Db, log: Logger, now: () => Date): SmsRun {
  const providers = new Map<string, SmsProvider>();
  // A receipt can beat the recording of its own send (the SMSC answers at once): kept, and tried
  // again once each send is recorded and when the run ends.
  const early: { provider: string; event: Extract<InboundSmsEvent, { kind: "receipt" }> }[] = [];
  const onDeliver = async (event: InboundSmsEvent, provider: string) => {
    if (event.kind === "receipt") {
      const receipt = { provider, providerMessageId: event.providerMessageId, status: event.status, errorCode: event.errorCode, at: now() };
      if (!(await recordDeliveryReceipt(db, receipt))) early.push({ provider, event });
    } else if (event.kind === "text") {
      // The bind is the account's own: what it delivers speaks for every company sending through it.
      await recordInboundText(db, { provider, from: event.from, to: event.to, text: event.text, at: now() });
    }
  };
  const retryEarlyReceipts = async () => {
    for (const pending of early.splice(0)) {
      const { event, provider } = pending;
      await recordDeliveryReceipt(db, { provider, providerMessageId: event.providerMessageId, status: event.status, errorCode: event.errorCode, at: now() });
    }
  };
  return {
    downAccounts: new Set(),
    providerFor(account) {
      const key = account.kind === "vonage"
        ? `vonage:${account.vonage.apiKey}`
        : `smpp:${account.smpp.systemId}@${account.smpp.host}:${account.smpp.port}`;
      let provider = providers.get(key);
      if (!provider) {
        provider = account.kind === "vonage" ? vonageProvider(account.vonage) : smppProvider(account.smpp, { onDeliver, log });
        providers.set(key, provider);
      }
      return provider;
    },
    retryEarlyReceipts,
    async closeAll() {
      await Promise.all([...providers.values()].map((p) => p.close().catch(() => undefined)));
      await retryEarlyReceipts();
    },
  };
}

/** Sends (or plans, in a dry run) one SMS step that the rule decided is due. */
export async function runSmsStep(options: {
  db: Db;
  config: Config;
  log: Logger;
  isDryRun: boolean;
  run: SmsRun;
  candidate: FollowupCandidate;
  company: CompanyContext;
  decision: Extract<DueDecision, { kind: "send" }>;
  source: Extract<SourceState, { state: "open" }>;
  /** E.164, already checked to be a mobile. */
  recipient: string;
  sendCount: number;
  now: Date;
}): Promise<SmsStepResult> {
  const { candidate, company, decision, source, now } = options;
  if (candidate.clientId === null) return { kind: "skip", reason: "no_client_phone" };
  if (await hasOptedOut(options.db, candidate.companyId, options.recipient)) return { kind: "skip", reason: "sms_opted_out" };
  const accountResult = resolveSmsAccount(options.config, company.name, company.settings.sms);
  if ("unavailable" in accountResult) return { kind: "skip", reason: accountResult.unavailable };

  const text = withGsmLookAlikes(renderFollowup({
    type: candidate.type,
    isBeforeDue: decision.isBeforeDue,
    template: smsTemplateFor(company.settings.templates, candidate.type),
    values: templateValuesOf({ candidate, source, company, now }),
  }).text);
  const length = smsLength(text);
  if (length.segments > accountResult.maxSegments) return { kind: "skip", reason: "sms_too_long" };
  if (options.isDryRun) return { kind: "planned", to: options.recipient, text, segments: length.segments };

  const provider = options.run.providerFor(accountResult.account);
  if (options.run.downAccounts.has(provider.key)) return { kind: "skip", reason: "sms_provider_unavailable" };
  const outcome = await smsChannel.send(options.db, {
    followupId: candidate.id,
    companyId: candidate.companyId,
    clientId: candidate.clientId,
    step: decision.step,
    recipient: options.recipient,
    text,
    segments: length.segments,
    senderName: accountResult.senderName,
    provider,
    now,
    timeZone: company.settings.sendingWindow.timeZone,
    isLastAllowed: options.sendCount + 1 >= company.settings.maxRelances,
    onRecorded: () => options.run.retryEarlyReceipts(),
  }, options.log.with({ companyId: candidate.companyId }));
  if (outcome.outcome === "failed" && outcome.isServerDown) options.run.downAccounts.add(provider.key);
  return { kind: "sent", outcome, accountKey: provider.key };
}
