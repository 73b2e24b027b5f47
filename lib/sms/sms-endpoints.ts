// `/api/sms/vonage`: Vonage's webhooks, both its delivery receipts (one per segment: `messageId`,
// `status`, `err-code`, `api-key`…) and the clients' inbound texts (`msisdn`, `to`, `text`…), as GET
// query or POST (JSON or form). Each names its account (`api-key`) and must prove it came from that
// account, signed by Vonage or with the account's `?secret=` (lib/sms/vonage-webhook-auth.ts); it then
// only touches what that account sent. A receipt updates its `sms_parts` row and the history row's
// delivery status; a STOP records an opt-out. Vonage retries a webhook until it gets a 2xx, so a
// receipt for an id this product does not know is still answered 200.

import { openDb } from "../db/client.js";
import { DatabaseUnavailableError, HttpError } from "../errors.js";
import { MIN_SECRET_LENGTH } from "../http/auth.js";
import { type EndpointOptions, guardedEndpoint } from "../http/endpoint.js";
import { MAX_FORM_BODY_BYTES, readBodyText } from "../http/read-body.js";
import { json } from "../http/respond.js";
import { recordDeliveryReceipt, recordInboundText } from "./record-delivery.js";
import type { DeliveryStatus } from "./sms-provider.js";
import { authenticateVonageWebhook } from "./vonage-webhook-auth.js";

export const VONAGE_WEBHOOK_PATH = "/api/sms/vonage";

/** Vonage's DLR `status` values (SMS API › Delivery receipts) in ours. */
const VONAGE_STATUS: Record<string, DeliveryStatus> = {
  delivered: "delivered", accepted: "accepted", buffered: "accepted", expired: "expired", failed: "failed", rejected: "rejected", unknown: "unknown",
};

export function vonageWebhookEndpoint(options: EndpointOptions = {}) {
  return guardedEndpoint("endpoint:sms-vonage", ["GET", "POST"], options, async (req, { config, log }) => {
    const webhookSecret = config.sms.webhookSecret;
    // As for CRON_SECRET: a short secret in a URL is guessed, and it would speak for every company
    // sending through the deployment's account.
    if (config.isProduction && webhookSecret !== undefined && webhookSecret.length < MIN_SECRET_LENGTH) {
      throw new HttpError(503, `SMS_WEBHOOK_SECRET is too short: use at least ${MIN_SECRET_LENGTH} characters (openssl rand -hex 32)`);
    }
    const url = new URL(req.url);
    // Read before the check: a signed webhook's signature covers its body's fields.
    const fields = await fieldsOf(req, url);
    const presentedSecret = url.searchParams.get("secret") ?? undefined;
    if (!fields.sig && presentedSecret === undefined) {
      log.warn("SMS webhook refused", { reasons: ["neither signed nor with a secret"] });
      throw new HttpError(403, "Forbidden");
    }
    const opened = options.db ? undefined : await openDb(config.database).catch((err: unknown) => {
      throw new DatabaseUnavailableError(err);
    });
    try {
      const db = options.db ?? opened!.db;
      const at = options.now?.() ?? new Date();
      const auth = await authenticateVonageWebhook(db, config, { fields, presentedSecret, now: at });
      if ("refused" in auth) {
        if (auth.refused.isDeploymentUnconfigured) throw new HttpError(503, "SMS_WEBHOOK_SECRET is not configured");
        log.warn("SMS webhook refused", { reasons: auth.refused.reasons });
        throw new HttpError(403, "Forbidden");
      }
      const { scope } = auth;
      const messageId = fields.messageId ?? fields["message-id"];
      if (messageId && fields.status) {
        const isRecorded = await recordDeliveryReceipt(db, {
          ...scope,
          providerMessageId: messageId,
          status: VONAGE_STATUS[fields.status.toLowerCase()] ?? "unknown",
          errorCode: fields["err-code"],
          at,
        });
        return json(200, { success: true, kind: "receipt", recorded: isRecorded });
      }
      if (fields.msisdn && fields.text !== undefined) {
        const result = await recordInboundText(db, { ...scope, from: `+${fields.msisdn.replace(/^\+/, "")}`, to: fields.to, text: fields.text, at });
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
