// Vonage's signed SMS webhooks (developer.vonage.com, "Signing Messages", and @vonage/sms's
// `verifySignature`): every parameter but `sig`, sorted by name, written `&name=value` with `&` and
// `=` in the values replaced by `_`; then the MD5 of that string followed by the signature secret
// ("MD5 hash", Vonage's default), or its HMAC keyed by the secret (MD5, SHA-1, SHA-256, SHA-512
// HMAC), in hex. The signed `timestamp` (Unix seconds) bounds how long a captured request replays.
//
// Kept here rather than calling `SMS.verifySignature` of @vonage/sms, which builds the same string
// but compares the signatures with `===`: this one compares in constant time. A test checks that
// both accept and refuse the same requests for every method.

import { createHash, createHmac } from "node:crypto";
import type { VonageSignatureMethod } from "../config.js";
import { safeEqual } from "../crypto/safe-equal.js";

/**
 * How far a signed request's `timestamp` may be from our clock: enough for Vonage's delivery and
 * clock drift, short enough that a request captured on the way is useless soon after.
 */
export const SIGNATURE_MAX_AGE_MS = 5 * 60_000;

export type SignatureCheck = "valid" | "missing" | "invalid" | "stale";

/** The signature Vonage would send with `params` (any `sig` among them is left out). */
export function vonageSignatureOf(params: Record<string, string>, secret: string, method: VonageSignatureMethod): string {
  // Sorted as the SDK sorts them (UTF-16 code units), so `message-timestamp` comes before `messageId`.
  const signed = Object.keys(params)
    .filter((key) => key !== "sig")
    .sort()
    .map((key) => `&${key}=${params[key]!.replace(/[&=]/g, "_")}`)
    .join("");
  if (method === "md5hash") return createHash("md5").update(signed + secret).digest("hex");
  return createHmac(method, secret).update(signed).digest("hex");
}

/** Whether `params` carry a valid signature made with `secret`, and are recent enough at `now`. */
export function checkVonageSignature(params: Record<string, string>, secret: string, method: VonageSignatureMethod, now: Date): SignatureCheck {
  const given = params.sig;
  if (!given) return "missing";
  // Vonage's HMAC signatures come in upper case, its MD5 hashes in lower case.
  if (!safeEqual(given.toLowerCase(), vonageSignatureOf(params, secret, method))) return "invalid";
  const timestamp = params.timestamp ?? "";
  if (!/^\d{1,12}$/.test(timestamp)) return "stale";
  return Math.abs(now.getTime() - Number(timestamp) * 1000) <= SIGNATURE_MAX_AGE_MS ? "valid" : "stale";
}
