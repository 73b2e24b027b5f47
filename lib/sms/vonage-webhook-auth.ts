// Who a Vonage webhook speaks for. Vonage sets webhooks per API key (its dashboard's "API settings")
// and names the key in every receipt and inbound text (`api-key`); the request must then prove it
// comes from that account:
// - by Vonage's signature (`sig`, `timestamp`, `nonce`) when a signature secret is set for the
//   account: then it is required, and a request signed too long ago is refused as a replay;
// - else by the account's webhook secret in `?secret=`.
// The deployment's account (VONAGE_API_KEY) proves itself with VONAGE_SIGNATURE_SECRET or
// SMS_WEBHOOK_SECRET and speaks for every company that sends through it. A company's own account
// (`companies sms`) proves itself with its own signature secret or webhook secret and speaks for that
// company alone. The deployment's secret never vouches for a company's account: every company that
// once pasted it into its dashboard could otherwise opt out the others' clients.

import { createHash } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Config, VonageSignatureMethod } from "../config.js";
import { decryptSecret } from "../crypto/secret-box.js";
import { safeEqual } from "../crypto/safe-equal.js";
import type { Db } from "../db/client.js";
import { companySettings } from "../db/schema.js";
import type { SmsAccountScope } from "./record-delivery.js";
import { parseSmsAccountSettings } from "./sms-account-settings.js";
import { checkVonageSignature, type SignatureCheck } from "./vonage-signature.js";

export interface VonageWebhookRequest {
  /** The webhook's fields (query and body), without our own `secret`. */
  fields: Record<string, string>;
  /** `?secret=` of the URL, when given. */
  presentedSecret?: string;
  now: Date;
}

/**
 * The scope proved, or the reasons none was, for the log (the caller only sees 403); when the
 * request names the deployment's account and it has no credentials at all, that is a configuration
 * fault (503), not a refusal.
 */
export type VonageWebhookAuth =
  | { scope: SmsAccountScope }
  | { refused: { reasons: string[]; isDeploymentUnconfigured: boolean } };

/** Why one account's credentials did not let a request through. */
type WebhookRefusal = "no_secret_configured" | "wrong_secret" | `signature_${Exclude<SignatureCheck, "valid">}`;

/** One account's credentials for its webhooks, and whose rows it may touch. */
interface WebhookCredentials {
  /** Undefined: the deployment's account. */
  companyId?: number;
  signature?: { secret: string; method: VonageSignatureMethod };
  isWebhookSecret(given: string): boolean;
  hasWebhookSecret: boolean;
}

/** The scope a webhook request proved, or why it proved none. */
export async function authenticateVonageWebhook(db: Db, config: Config, request: VonageWebhookRequest): Promise<VonageWebhookAuth> {
  const apiKey = request.fields["api-key"]?.trim();
  if (!apiKey) return { refused: { reasons: ["no_api_key"], isDeploymentUnconfigured: false } };
  const deployment = config.sms.vonage?.apiKey === apiKey ? deploymentCredentials(config) : undefined;
  const { companies, unreadable } = await companyCredentials(db, config, apiKey);
  const candidates = [...(deployment ? [deployment] : []), ...companies];
  const reasons = unreadable.map((companyId) => `company ${companyId}: secret_unreadable`);
  if (candidates.length === 0) return { refused: { reasons: [...reasons, "unknown_api_key"], isDeploymentUnconfigured: false } };

  const accepted: WebhookCredentials[] = [];
  for (const candidate of candidates) {
    const outcome = check(candidate, request);
    if (outcome === "accepted") accepted.push(candidate);
    else reasons.push(`${candidate.companyId === undefined ? "deployment" : `company ${candidate.companyId}`}: ${outcome}`);
  }
  if (accepted.length === 0) {
    const isDeploymentUnconfigured = deployment !== undefined && !deployment.signature && !deployment.hasWebhookSecret;
    return { refused: { reasons, isDeploymentUnconfigured } };
  }
  const provider = `vonage:${apiKey}`;
  if (accepted.some((c) => c.companyId === undefined)) return { scope: { provider } };
  return { scope: { provider, companyIds: accepted.map((c) => c.companyId!) } };
}

/** The SHA-256 that a company's settings keep of its webhook secret. */
export function webhookSecretDigest(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

function check(credentials: WebhookCredentials, request: VonageWebhookRequest): "accepted" | WebhookRefusal {
  if (credentials.signature) {
    const { secret, method } = credentials.signature;
    const signature = checkVonageSignature(request.fields, secret, method, request.now);
    return signature === "valid" ? "accepted" : `signature_${signature}`;
  }
  if (!credentials.hasWebhookSecret) return "no_secret_configured";
  return request.presentedSecret !== undefined && credentials.isWebhookSecret(request.presentedSecret) ? "accepted" : "wrong_secret";
}

function deploymentCredentials(config: Config): WebhookCredentials {
  const vonage = config.sms.vonage!;
  const webhookSecret = config.sms.webhookSecret;
  return {
    signature: vonage.signatureSecret ? { secret: vonage.signatureSecret, method: vonage.signatureMethod } : undefined,
    hasWebhookSecret: webhookSecret !== undefined,
    isWebhookSecret: (given) => webhookSecret !== undefined && safeEqual(given, webhookSecret),
  };
}

/** Every company whose own Vonage account has this key (an account may be shared by a group's companies). */
async function companyCredentials(db: Db, config: Config, apiKey: string): Promise<{ companies: WebhookCredentials[]; unreadable: number[] }> {
  const rows = await db
    .select({ companyId: companySettings.companyId, sms: sql<unknown>`${companySettings.settings} -> 'sms'` })
    .from(companySettings)
    .where(sql`${companySettings.settings} #>> '{sms,vonage,api_key}' = ${apiKey}`);
  const keys = { encryptionKey: config.encryptionKey, legacyMasterKey: config.legacyMasterKey };
  const companies: WebhookCredentials[] = [];
  const unreadable: number[] = [];
  for (const row of rows) {
    const vonage = parseSmsAccountSettings(typeof row.sms === "string" ? JSON.parse(row.sms) : row.sms, []).vonage;
    if (!vonage || vonage.apiKey !== apiKey) continue;
    let signature: WebhookCredentials["signature"];
    try {
      signature = vonage.signatureSecretStored
        ? { secret: decryptSecret(vonage.signatureSecretStored, keys), method: vonage.signatureMethod ?? "md5hash" }
        : undefined;
    } catch {
      // A secret this deployment cannot read proves nothing; the key's other companies still count.
      unreadable.push(row.companyId);
      continue;
    }
    const digest = vonage.webhookSecretSha256;
    companies.push({
      companyId: row.companyId,
      signature,
      hasWebhookSecret: digest !== undefined,
      isWebhookSecret: (given) => digest !== undefined && safeEqual(webhookSecretDigest(given), digest),
    });
  }
  return { companies, unreadable };
}
