// `/api/sms/vonage`: Vonage's webhooks, both its delivery receipts (one per segment: `messageId`,
// `status`, `err-code`, `api-key`…) and the clients' inbound texts (`msisdn`, `text`…), as GET
// query or POST (JSON or form), behind SMS_WEBHOOK_SECRET given as `?secret=` in the URL set in
// Vonage's dashboard. A receipt updates its `sms_parts` row and the history row's delivery status;
// a STOP records an opt-out. Vonage retries a webhook until it gets a 2xx, so a receipt for an id
// this product does not know is still answered 200.

import { openDb } from "../db/client.js";
import { HttpError } from "../errors.js";
import { DatabaseUnavailableError } from "../jobs/run-job.js";
import { safeEqual } from "../crypto/safe-equal.js";
import { recordDeliveryReceipt, recordInboundText } from "../sms/record-delivery.js";
import type { DeliveryStatus } from "../sms/sms-provider.js";
import { type EndpointOptions, guardedEndpoint } from "./endpoint.js";
import { MAX_FORM_BODY_BYTES, readBodyText } from "./read-body.js";
import { json } from "./respond.js";

export const VONAGE_WEBHOOK_PATH = "/api/sms/vonage";

/** Vonage's DLR `status` values (SMS API › Delivery receipts) in ours. */
const VONAGE_STATUS: Record<string, DeliveryStatus> = {
  delivered: "delivered", accepted: "accepted", buffered: "accepted", expired: "expired", failed: "failed", rejected: "rejected", unknown: "unknown",
};

export function vonageWebhookEndpoint(options: EndpointOptions = {}) {
  return guardedEndpoint("endpoint:sms-vonage", ["GET", "POST"], options, async (req, { config, log }) => {
    const expected = config.sms.webhookSecret;
    if (!expected) throw new HttpError(503, "SMS_WEBHOOK_SECRET is not configured");
    const url = new URL(req.url);
    if (!safeEqual(url.searchParams.get("secret") ?? "", expected)) {
      log.warn("SMS webhook refused: wrong secret");
      throw new HttpError(403, "Forbidden");
    }
    const fields = await fieldsOf(req, url);
    const opened = options.db ? undefined : await openDb(config.database).catch((err: unknown) => {
      throw new DatabaseUnavailableError(err);
    });
    try {
      const db = options.db ?? opened!.db;
      const at = options.now?.() ?? new Date();
      const messageId = fields.messageId ?? fields["message-id"];
      if (messageId && fields.status) {
        const isRecorded = await recordDeliveryReceipt(db, {
          provider: `vonage:${fields["api-key"] ?? ""}`,
          providerMessageId: messageId,
          status: VONAGE_STATUS[fields.status.toLowerCase()] ?? "unknown",
          errorCode: fields["err-code"],
          at,
        });
        return json(200, { success: true, kind: "receipt", recorded: isRecorded });
      }
      if (fields.msisdn && fields.text !== undefined) {
        const result = await recordInboundText(db, { from: `+${fields.msisdn.replace(/^\+/, "")}`, text: fields.text, at });
        return json(200, { success: true, kind: "inbound", result });
      }
      throw new HttpError(400, "neither a delivery receipt nor an inbound message");
    } finally {
      await opened?.close();
    }
  });
}

async function fieldsOf(req: Request, url: URL): Promise<Record<string, string>> {
  const fields: Record<string, string> = {};
  for (const [key, value] of url.searchParams) if (key !== "secret") fields[key] = value;
  if (req.method !== "POST") return fields;
  const type = req.headers.get("content-type") ?? "";
  const text = await readBodyText(req, MAX_FORM_BODY_BYTES);
  if (type.includes("application/json")) {
    const body = parseJsonObject(text);
    for (const [key, value] of Object.entries(body ?? {})) if (value !== null && typeof value !== "object") fields[key] = String(value);
  } else {
    for (const [key, value] of new URLSearchParams(text)) fields[key] = value;
  }
  return fields;
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed !== null && typeof parsed === "object" ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
