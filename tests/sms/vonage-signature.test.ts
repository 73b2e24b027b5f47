// The check of Vonage's webhook signatures against Vonage's own: requests signed as its documentation
// says (tests/support/vonage-server.ts) are accepted by both @vonage/sms's `verifySignature` and
// ours, and the same tampered or foreign ones refused by both, for every method of the dashboard.

import { SMS } from "@vonage/sms";
import { describe, expect, it } from "vitest";
import { VONAGE_SIGNATURE_METHODS, type VonageSignatureMethod } from "../../lib/config.js";
import { checkVonageSignature } from "../../lib/sms/vonage-signature.js";
import { signedByVonage } from "../support/vonage-server.js";

/** The SDK's `AlgorithmTypes` values (of @vonage/auth, which this project does not depend on directly). */
const SDK_ALGORITHM = {
  md5hash: "MD5HASH", md5: "MD5HMAC", sha1: "SHA1HMAC", sha256: "SHA256HMAC", sha512: "SHA512HMAC",
} as Record<VonageSignatureMethod, Parameters<SMS["verifySignature"]>[3]>;
const AT = new Date("2026-03-10T09:01:00Z");
const SECRET = "vonage-signature-secret-0123456789";
// A text with the characters the signed form replaces ("&", "="), accents, and `message-timestamp`
// beside `messageId` (their order depends on how names are sorted).
const INBOUND = {
  "api-key": "abcd1234", msisdn: "33612345611", to: "33700000001", messageId: "0B0000000001", text: "STOP & ARRÊT = fin",
  type: "text", keyword: "STOP", "message-timestamp": "2026-03-10 09:01:00",
};

describe("Vonage webhook signatures", () => {
  const sdk = new SMS({ apiKey: "abcd1234", apiSecret: "unused" });

  it.each(VONAGE_SIGNATURE_METHODS)("accepts what Vonage signs with %s, as Vonage's SDK does", (method) => {
    const signed = signedByVonage(INBOUND, SECRET, method, AT);
    expect(sdk.verifySignature(signed.sig!, signed, SECRET, SDK_ALGORITHM[method])).toBe(true);
    expect(checkVonageSignature(signed, SECRET, method, AT)).toBe("valid");
  });

  it.each(VONAGE_SIGNATURE_METHODS)("refuses, as Vonage's SDK does, a %s request whose text was changed or signed with another secret", (method) => {
    const signed = signedByVonage(INBOUND, SECRET, method, AT);
    const changed: Record<string, string> = { ...signed, msisdn: "33699999999" };
    const foreign = signedByVonage(INBOUND, "another-account-signature-secret", method, AT);
    for (const request of [changed, foreign]) {
      expect(sdk.verifySignature(request.sig!, request, SECRET, SDK_ALGORITHM[method])).toBe(false);
      expect(checkVonageSignature(request, SECRET, method, AT)).toBe("invalid");
    }
    expect(checkVonageSignature({ ...signed, sig: "" }, SECRET, method, AT)).toBe("missing");
  });

  it("refuses a valid signature more than five minutes from the clock, either way, as a replay", () => {
    const signed = signedByVonage(INBOUND, SECRET, "sha256", AT);
    const minutes = (n: number) => new Date(AT.getTime() + n * 60_000);
    expect(checkVonageSignature(signed, SECRET, "sha256", minutes(4))).toBe("valid");
    expect(checkVonageSignature(signed, SECRET, "sha256", minutes(-4))).toBe("valid");
    expect(checkVonageSignature(signed, SECRET, "sha256", minutes(6))).toBe("stale");
    expect(checkVonageSignature(signed, SECRET, "sha256", minutes(-6))).toBe("stale");
  });
});
