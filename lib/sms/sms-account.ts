// Which SMS account sends a company's texts, and under which sender name: the company's own
// (`settings.sms.provider` with its credentials, secrets encrypted at rest with ENCRYPTION_KEY like
// mailbox passwords), else the global one from the environment (SMS_PROVIDER, VONAGE_*, SMPP_*).

import type { Config } from "../config.js";
import { decryptSecret } from "../crypto/secret-box.js";
import { shortReason } from "../errors.js";
import type { SmppAccount } from "./smpp-client.js";
import { SENDER_NAME, type SmsAccountSettings } from "./sms-account-settings.js";
import type { VonageAccount } from "./vonage-client.js";

export type SmsAccount = { kind: "vonage"; vonage: VonageAccount } | { kind: "smpp"; smpp: SmppAccount };

export type SmsAccountResult =
  | { account: SmsAccount; senderName: string; maxSegments: number }
  | { unavailable: "no_sms_provider" | "sms_secret_unreadable" | "no_sms_sender_name"; detail?: string };

/** The account, sender name and segment cap for a company's texts. */
export function resolveSmsAccount(config: Config, companyName: string, sms: SmsAccountSettings): SmsAccountResult {
  const senderName = sms.senderName ?? config.sms.senderName ?? senderNameFrom(companyName);
  if (!senderName || !(SENDER_NAME.test(senderName) || /^\+\d{6,15}$/.test(senderName))) return { unavailable: "no_sms_sender_name" };
  const maxSegments = sms.maxSegments ?? config.sms.maxSegments;
  const keys = { encryptionKey: config.encryptionKey, legacyMasterKey: config.legacyMasterKey };
  try {
    if (sms.provider === "vonage" && sms.vonage) {
      const vonage = { apiKey: sms.vonage.apiKey, apiSecret: decryptSecret(sms.vonage.apiSecretStored, keys), restHost: config.sms.vonage?.restHost, timeoutMs: config.sms.timeoutMs };
      return { account: { kind: "vonage", vonage }, senderName, maxSegments };
    }
    if (sms.provider === "smpp" && sms.smpp) {
      const url = new URL(sms.smpp.url.replace(/^(s?)smpp:/, "http$1:"));
      const isSecure = url.protocol === "https:";
      const smpp = {
        host: url.hostname, port: Number(url.port) || (isSecure ? 3550 : 2775), isSecure,
        systemId: sms.smpp.systemId, password: decryptSecret(sms.smpp.passwordStored, keys), systemType: sms.smpp.systemType,
        timeoutMs: config.sms.timeoutMs,
        // Typed by the company: held to the rule of its mail servers' addresses, on any port.
        hostPolicy: { isPrivateAllowed: config.mailHosts.isPrivateAllowed, allowedPorts: "any" as const },
      };
      return { account: { kind: "smpp", smpp }, senderName, maxSegments };
    }
  } catch (err) {
    return { unavailable: "sms_secret_unreadable", detail: shortReason(err) };
  }
  const global = config.sms;
  if (global.provider === "vonage" && global.vonage) {
    return { account: { kind: "vonage", vonage: { ...global.vonage, timeoutMs: global.timeoutMs } }, senderName, maxSegments };
  }
  if (global.provider === "smpp" && global.smpp) {
    return { account: { kind: "smpp", smpp: { ...global.smpp, timeoutMs: global.timeoutMs } }, senderName, maxSegments };
  }
  return { unavailable: "no_sms_provider" };
}

/** "Atelier Durand & Fils" → "AtelierDura": letters and digits only, 11 at most. */
function senderNameFrom(companyName: string): string | undefined {
  const squeezed = companyName.normalize("NFD").replace(/[^A-Za-z0-9]/g, "").slice(0, 11);
  return /[A-Za-z]/.test(squeezed) ? squeezed : undefined;
}
