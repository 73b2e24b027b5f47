// What comes back from the SMS providers: delivery receipts (one per segment, recorded on its
// `sms_parts` row and summed up on the history row) and the clients' own texts, of which only an
// opt-out word matters: the number is never sent another automatic SMS by the company that last
// texted it (French practice: "STOP" must work for every text a business sends).

import { and, desc, eq, inArray, isNotNull } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { followupHistory, followupSendAttempts, smsOptOuts, smsParts } from "../db/schema.js";
import { mobileNumberOf } from "./phone-number.js";
import type { DeliveryStatus } from "./sms-provider.js";

export interface DeliveryReceipt {
  /** `sms_parts.provider`: the provider's key (`vonage:<api key>`, `smpp:<system id>@<host>:<port>`). */
  provider: string;
  providerMessageId: string;
  status: DeliveryStatus;
  errorCode?: string;
  at: Date;
}

/** Words that stop automatic texts, compared without accents or case ("Stop", "ARRÊT"…). */
const OPT_OUT_WORDS = new Set(["STOP", "STOPSMS", "STOP SMS", "ARRET", "ARRETER", "DESABONNER", "UNSUBSCRIBE"]);
const FINAL_FAILURES: DeliveryStatus[] = ["failed", "rejected", "expired"];

/** Records one receipt; false when no segment of ours has that id (someone else's, or too early). */
export async function recordDeliveryReceipt(db: Db, receipt: DeliveryReceipt): Promise<boolean> {
  return db.transaction(async (tx) => {
    const [part] = await tx
      .update(smsParts)
      .set({ status: receipt.status, errorCode: receipt.errorCode ?? null, statusAt: receipt.at })
      .where(and(eq(smsParts.provider, receipt.provider), eq(smsParts.providerMessageId, receipt.providerMessageId)))
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

/**
 * Records a client's text. An opt-out word from a number we texted becomes an opt-out for the
 * company that texted it last; anything else is ignored (this job keeps no SMS inbox).
 */
export async function recordInboundText(db: Db, inbound: { from: string; text: string; at: Date }): Promise<"opted_out" | "ignored"> {
  const word = inbound.text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toUpperCase().replace(/[^A-Z ]/g, "").replace(/\s+/g, " ").trim();
  if (!OPT_OUT_WORDS.has(word)) return "ignored";
  const phone = mobileNumberOf(inbound.from);
  if (!("e164" in phone)) return "ignored";
  const [last] = await db
    .select({ companyId: followupSendAttempts.companyId })
    .from(followupSendAttempts)
    .where(and(eq(followupSendAttempts.channel, "sms"), eq(followupSendAttempts.recipient, phone.e164), inArray(followupSendAttempts.state, ["sent", "uncertain", "sending"]), isNotNull(followupSendAttempts.handedOverAt)))
    .orderBy(desc(followupSendAttempts.startedAt))
    .limit(1);
  if (!last) return "ignored";
  await db
    .insert(smsOptOuts)
    .values({ companyId: last.companyId, phone: phone.e164, keyword: word, receivedAt: inbound.at })
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
