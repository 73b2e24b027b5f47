// Reads an SMPP `deliver_sm`: either a delivery receipt for one of our segments (esm_class bits
// 2–5 = 0001, SMPP 3.4 §5.2.12), identified by the `receipted_message_id` TLV or, from older
// gateways, by the "id:… stat:…" text of Appendix B, or a text the client sent (an MO message).

import type { PDU } from "smpp";
import type { DeliveryStatus } from "./sms-provider.js";

export type InboundSmsEvent =
  | { kind: "receipt"; providerMessageId: string; status: DeliveryStatus; errorCode?: string }
  | { kind: "text"; from: string; to: string; text: string }
  | { kind: "unreadable" };

const RECEIPT_ESM_MASK = 0x3c;
const RECEIPT_ESM_VALUE = 0x04;
/** `message_state` TLV values (SMPP 3.4 §5.2.28). */
const STATE_BY_NUMBER: Record<number, DeliveryStatus> = {
  1: "accepted", 2: "delivered", 3: "expired", 4: "failed", 5: "failed", 6: "accepted", 7: "unknown", 8: "rejected",
};
/** The `stat:` words of the receipt text (Appendix B). */
const STATE_BY_WORD: Record<string, DeliveryStatus> = {
  ENROUTE: "accepted", DELIVRD: "delivered", EXPIRED: "expired", DELETED: "failed", UNDELIV: "failed",
  ACCEPTD: "accepted", UNKNOWN: "unknown", REJECTD: "rejected",
};

export function parseDeliverSm(pdu: PDU): InboundSmsEvent {
  const text = messageText(pdu.short_message) ?? messageText(pdu.message_payload) ?? "";
  const esmClass = typeof pdu.esm_class === "number" ? pdu.esm_class : 0;
  if ((esmClass & RECEIPT_ESM_MASK) === RECEIPT_ESM_VALUE) {
    const id = stringOf(pdu.receipted_message_id) ?? /\bid:(\S+)/i.exec(text)?.[1];
    const state = typeof pdu.message_state === "number" ? STATE_BY_NUMBER[pdu.message_state] : undefined;
    const word = /\bstat:(\w+)/i.exec(text)?.[1]?.toUpperCase();
    const errorCode = /\berr:(\w+)/i.exec(text)?.[1];
    if (!id) return { kind: "unreadable" };
    return { kind: "receipt", providerMessageId: id, status: state ?? (word ? STATE_BY_WORD[word] : undefined) ?? "unknown", errorCode };
  }
  const source = stringOf(pdu.source_addr);
  if (!source) return { kind: "unreadable" };
  // An international number (TON 1) comes without its "+".
  const from = pdu.source_addr_ton === 1 && /^\d+$/.test(source) ? `+${source}` : source;
  return { kind: "text", from, to: stringOf(pdu.destination_addr) ?? "", text };
}

function messageText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && "message" in value) {
    const message = (value as { message: unknown }).message;
    if (typeof message === "string") return message;
    if (Buffer.isBuffer(message)) return message.toString("latin1");
  }
  if (Buffer.isBuffer(value)) return value.toString("latin1");
  return undefined;
}

function stringOf(value: unknown): string | undefined {
  if (typeof value === "string" && value.length > 0) return value.replace(/\0+$/, "");
  if (Buffer.isBuffer(value) && value.length > 0) return value.toString("latin1").replace(/\0+$/, "");
  return undefined;
}
