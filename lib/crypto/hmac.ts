// HMAC-SHA256 signatures for values the server hands out and must recognise later (the operator's
// session cookie, its CSRF token), with the keys derived from a configured secret.

import { createHmac } from "node:crypto";
import { safeEqual } from "./safe-equal.js";

/** A key for one purpose, derived from `secret`: rotating the secret changes every derived key. */
export function deriveKey(secret: string, purpose: string): Buffer {
  return createHmac("sha256", secret).update(`lokario-cron:${purpose}`).digest();
}

/** The base64url HMAC-SHA256 of `text` under `key`. */
export function sign(key: Buffer, text: string): string {
  return createHmac("sha256", key).update(text, "utf8").digest("base64url");
}

/** True when `signature` is `text`'s signature under one of `keys` (compared in constant time). */
export function isSignedBy(keys: Buffer[], text: string, signature: string): boolean {
  // Every key is tried, so timing does not tell which one matched.
  return keys.map((key) => safeEqual(signature, sign(key, text))).includes(true);
}
