// What comes back from the SMS providers: delivery receipts (one per segment, recorded on its
// `sms_parts` row and summed up on the history row) and the clients' own texts, of which only an
// opt-out word matters: the number is never sent another automatic SMS by the company that texted
// it (French practice: "STOP" must work for every text a business sends).
//
// Each comes through one account (a Vonage API key, an SMPP bind) and may only touch what was sent
// through that account, and, when only a company's own secret vouched for it, only that company's
// rows: whoever holds one account's webhook secret cannot mark another's texts delivered or opt out
// another company's client.

import { and, desc, eq, inArray, isNotNull } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { followupHistory, followupSendAttempts, smsOptOuts, smsParts } from "../db/schema.js";
import { mobileNumberOf } from "./phone-number.js";
import type { DeliveryStatus } from "./sms-provider.js";

/** What a receipt or a client's text may speak for, as its sender proved it. */
export interface SmsAccountScope {
  /** The account's key, as in `sms_parts.provider` (`vonage:<api key>`, `smpp:<system id>@<host>:<port>`). */
  provider: string;
  /** Only these companies' texts; undefined for every company that sent through the account. */
  companyIds?: number[];
}

export interface DeliveryReceipt extends SmsAccountScope {
  providerMessageId: string;
  status: DeliveryStatus;
  errorCode?: string;
  at: Date;
}

/** Words that stop automatic texts, compared without accents or case ("Stop", "ARRÊT"…). */
const OPT_OUT_WORDS = new Set(["STOP", "STOPSMS", "STOP SMS", "ARRET", "ARRETER", "DESABONNER", "UNSUBSCRIBE"]);
const FINAL_FAILURES: DeliveryStatus[] = ["failed", "rejected", "expired"];
/** Texts to one number through one account, newest first: a few per follow-up, a handful of follow-ups. */
const MAX_TEXTS_LOOKED_AT = 200;

/** Records one receipt; false when no segment of ours has that id (someone else's, or too early). */
export async function recordDeliveryReceipt(db: Db, receipt: DeliveryReceipt): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [part] = await tx
      .update(smsParts)
      .set({ status: receipt.status, errorCode: receipt.errorCode ?? null, statusAt: receipt.at })
      .where(and(
        eq(smsParts.provider, receipt.provider),
        eq(smsParts.providerMessageId, receipt.providerMessageId),
        receipt.companyIds && inArray(smsParts.companyId, receipt.companyIds),
      ))
      .returning({ historyId: smsParts.historyId });
    if (!part) return false;
    if (part.historyId !== null) {
      const parts = await tx.select({ status: smsParts.status }).from(smsParts).where(eq(smsParts.historyId, part.historyId));
      await tx
        .update(followupHistory)
        .set({ deliveryStatus: overallStatus(parts.map((p) => p.status as DeliveryStatus)), deliveryStatusAt: receipt.at })
        .where(eq(followupHistory.id, part.historyId));
    }
    return true;
  });
}

export interface InboundText extends SmsAccountScope {
  /** The client's number. */
  from: string;
  /** The number (or name) the client wrote to: the sender of the text they answer. */
  to?: string;
  text: string;
  at: Date;
}

/**
 * Records a client's text. An opt-out word becomes an opt-out for the company that texted that
 * number through the account it came in on: the one whose sender number the client answered, else
 * the last one that texted it under a sender name (a name cannot be answered, so the operator or
 * the provider routed the answer). Anything else is ignored (this job keeps no SMS inbox).
 */
export async function recordInboundText(db: Db, inbound: InboundText): Promise<"opted_out" | "ignored"> {
  const word = inbound.text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toUpperCase().replace(/[^A-Z ]/g, "").replace(/\s+/g, " ").trim();
  if (!OPT_OUT_WORDS.has(word)) return "ignored";
  const phone = mobileNumberOf(inbound.from);
  if (!("e164" in phone)) return "ignored";
  const texted = await db
    .select({ companyId: followupSendAttempts.companyId, sender: followupSendAttempts.smsSender })
    .from(followupSendAttempts)
    .where(and(
      eq(followupSendAttempts.channel, "sms"),
      eq(followupSendAttempts.recipient, phone.e164),
      inArray(followupSendAttempts.state, ["sent", "uncertain", "sending"]),
      isNotNull(followupSendAttempts.handedOverAt),
      eq(followupSendAttempts.smsProvider, inbound.provider),
      inbound.companyIds && inArray(followupSendAttempts.companyId, inbound.companyIds),
    ))
    .orderBy(desc(followupSendAttempts.startedAt))
    .limit(MAX_TEXTS_LOOKED_AT);
  const answered = texted.find((t) => isSameSender(t.sender, inbound.to)) ?? texted.find((t) => !isNumberSender(t.sender));
  if (!answered) return "ignored";
  await db
    .insert(smsOptOuts)
    .values({ companyId: answered.companyId, phone: phone.e164, keyword: word, receivedAt: inbound.at })
    .onConflictDoNothing({ target: [smsOptOuts.companyId, smsOptOuts.phone] });
  return "opted_out";
}

/** True when `phone` (E.164) answered STOP to `companyId`. */
export async function hasOptedOut(db: Db, companyId: number, phone: string): Promise<boolean> {
  const rows = await db
    .select({ id: smsOptOuts.id })
    .from(smsOptOuts)
    .where(and(eq(smsOptOuts.companyId, companyId), eq(smsOptOuts.phone, phone)))
    .limit(1);
  return rows.length > 0;
}

/** One status for the whole text: a failed segment fails it; delivered once every segment is. */
function overallStatus(statuses: DeliveryStatus[]): DeliveryStatus {
  const failure = statuses.find((s) => FINAL_FAILURES.includes(s));
  if (failure) return failure;
  if (statuses.every((s) => s === "delivered")) return "delivered";
  return statuses.some((s) => s === "accepted" || s === "delivered") ? "accepted" : "submitted";
}

/** A sender that is a phone number (which a client can answer), as opposed to a sender name. */
function isNumberSender(sender: string | null): boolean {
  return sender !== null && /^\+?\d{6,15}$/.test(sender.replace(/\s/g, ""));
}

/** True when the client's text went to `sender`: numbers compared by their digits ("+33…" and "33…"). */
function isSameSender(sender: string | null, to: string | undefined): boolean {
  if (sender === null || !to) return false;
  if (isNumberSender(sender)) return sender.replace(/\D/g, "").replace(/^00/, "") === to.replace(/\D/g, "").replace(/^00/, "");
  return sender.trim().toUpperCase() === to.trim().toUpperCase();
}
