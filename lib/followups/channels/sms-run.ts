// The run's SMS accounts: one provider session per account for the whole run, closed at its end,
// the accounts that failed this run, and the SMPP receipts and STOP texts the sessions receive
// while bound, recorded as they come.

import type { Db } from "../../db/client.js";
import type { Logger } from "../../log.js";
import { recordDeliveryReceipt, recordInboundText } from "../../sms/record-delivery.js";
import type { SmsAccount } from "../../sms/sms-account.js";
import type { SmsProvider } from "../../sms/sms-provider.js";
import { smppProvider } from "../../sms/smpp-client.js";
import type { InboundSmsEvent } from "../../sms/smpp-deliver.js";
import { vonageProvider } from "../../sms/vonage-client.js";

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
