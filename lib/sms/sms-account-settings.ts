// Which SMS account a company sends through and under which name, as kept in
// `company_settings.settings.sms` (all optional; a bad value falls back to its default with a
// warning). The window of its texts is a follow-up rule and is read beside it
// (lib/followups/sms-settings.ts).
//   sender_name      alphanumeric sender shown on the phone, ≤ 11 characters (else SMS_SENDER_NAME,
//                    else the company's name squeezed to 11 letters and digits)
//   max_segments     a text longer than this many billed segments is not sent (SMS_MAX_SEGMENTS, 3)
//   provider         "vonage" | "smpp": the company's own account instead of the global one, with
//   vonage           { api_key, api_secret }                       (secrets: `v1:` values encrypted
//   smpp             { url, system_id, password, system_type }      with ENCRYPTION_KEY, secret-box.ts)
//                    and what the account's webhooks prove themselves with (vonage-webhook-auth.ts):
//                    vonage.signature_secret (encrypted) and vonage.signature_method, when Vonage signs
//                    them; else vonage.webhook_secret_sha256, the SHA-256 of the account's `?secret=`

import { z } from "zod";
import { VONAGE_SIGNATURE_METHODS, type VonageSignatureMethod } from "../config.js";

export interface SmsAccountSettings {
  senderName?: string;
  maxSegments?: number;
  provider?: "vonage" | "smpp";
  vonage?: {
    apiKey: string;
    apiSecretStored: string;
    signatureSecretStored?: string;
    signatureMethod?: VonageSignatureMethod;
    /** Hex SHA-256 of the account's webhook secret: the secret itself is shown once and never kept. */
    webhookSecretSha256?: string;
  };
  smpp?: { url: string; systemId: string; passwordStored: string; systemType?: string };
}

/** Letters, digits and spaces, 1 to 11 of them, at least one letter (GSM 03.40 alphanumeric OA). */
export const SENDER_NAME = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;

/** The rule of each value, for whoever writes them too (the CLI's `companies sms`). */
export const SMS_SETTINGS_RULES = {
  senderName: z.string().trim().regex(SENDER_NAME),
  maxSegments: z.coerce.number().int().min(1).max(10),
  provider: z.enum(["vonage", "smpp"]),
  vonage: z.object({
    api_key: z.string().min(1),
    api_secret: z.string().min(1),
    signature_secret: z.string().min(1).optional(),
    signature_method: z.enum(VONAGE_SIGNATURE_METHODS).optional(),
    webhook_secret_sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  }),
  smpp: z.object({
    url: z.string().regex(/^s?smpp:\/\/[^/:]+(:\d{1,5})?\/?$/),
    system_id: z.string().min(1),
    password: z.string().min(1),
    system_type: z.string().optional(),
  }),
};

/** Reads the account part of `raw` (the `sms` object); never throws. */
export function parseSmsAccountSettings(raw: unknown, warnings: string[]): SmsAccountSettings {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    warnings.push("settings.sms is not an object: using the defaults");
    return {};
  }
  const value = raw as Record<string, unknown>;
  const read = <T>(key: string, parser: z.ZodType<T>): T | undefined => {
    if (value[key] === undefined || value[key] === null) return undefined;
    const parsed = parser.safeParse(value[key]);
    if (parsed.success) return parsed.data;
    warnings.push(`settings.sms.${key} is invalid: using the default`);
    return undefined;
  };
  const vonage = read("vonage", SMS_SETTINGS_RULES.vonage);
  const smpp = read("smpp", SMS_SETTINGS_RULES.smpp);
  return {
    senderName: read("sender_name", SMS_SETTINGS_RULES.senderName),
    maxSegments: read("max_segments", SMS_SETTINGS_RULES.maxSegments),
    provider: read("provider", SMS_SETTINGS_RULES.provider),
    vonage: vonage && {
      apiKey: vonage.api_key,
      apiSecretStored: vonage.api_secret,
      signatureSecretStored: vonage.signature_secret,
      signatureMethod: vonage.signature_method,
      webhookSecretSha256: vonage.webhook_secret_sha256,
    },
    smpp: smpp && { url: smpp.url, systemId: smpp.system_id, passwordStored: smpp.password, systemType: smpp.system_type },
  };
}
