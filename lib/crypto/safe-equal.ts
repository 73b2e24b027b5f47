// Constant-time comparison of secrets: both sides are hashed first, so neither the content nor the
// length of the expected secret leaks through timing.

import { createHash, timingSafeEqual } from "node:crypto";

/** True when `given` equals `expected`, compared in constant time. */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}
