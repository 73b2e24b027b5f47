// The secret a subscription's notifications carry (`clientState`): Graph echoes it in every change
// and lifecycle notification, and it is the only proof a POST to the notification URL came from
// Graph for that subscription ("Receive change notifications through webhooks": validate it, it
// must stay known only to the app and Graph). A fresh random one per subscription; only its
// SHA-256 is stored, so a leaked table cannot be used to forge notifications.

import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** 32 random bytes, base64url: 43 characters, under Graph's 128-character limit. */
export function newClientState(): string {
  return randomBytes(32).toString("base64url");
}

/** What is stored for `clientState`: its SHA-256, hex. */
export function hashClientState(clientState: string): string {
  return createHash("sha256").update(clientState, "utf8").digest("hex");
}

/** True when `received` hashes to `storedHash`, compared in constant time. */
export function isClientStateValid(received: string | null | undefined, storedHash: string): boolean {
  if (typeof received !== "string") return false;
  const given = createHash("sha256").update(received, "utf8").digest();
  const expected = Buffer.from(storedHash, "hex");
  return expected.length === given.length && timingSafeEqual(given, expected);
}
