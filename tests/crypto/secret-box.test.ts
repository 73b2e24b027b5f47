import { createCipheriv, createHmac, pbkdf2Sync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decryptSecret, encryptSecret } from "../../lib/crypto/secret-box.js";

const keys = { encryptionKey: Buffer.alloc(32, 3).toString("base64") };

/** A Fernet token made the way the original product's library made them (spec: github.com/fernet/spec). */
function fernetToken(plain: string, masterKey: string): string {
  const derived = pbkdf2Sync(masterKey, "lokario_encryption_salt", 100_000, 32, "sha256");
  const iv = Buffer.alloc(16, 9);
  const cipher = createCipheriv("aes-128-cbc", derived.subarray(16), iv);
  const body = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(8), iv, cipher.update(plain, "utf8"), cipher.final()]);
  const mac = createHmac("sha256", derived.subarray(0, 16)).update(body).digest();
  return Buffer.concat([body, mac]).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

describe("secret box", () => {
  it("round-trips a password and never stores it in clear", () => {
    const stored = encryptSecret("pâss wörd", keys);
    expect(stored.startsWith("v1:")).toBe(true);
    expect(stored).not.toContain("pâss");
    expect(decryptSecret(stored, keys)).toBe("pâss wörd");
  });

  it("uses a fresh IV each time", () => {
    expect(encryptSecret("same", keys)).not.toBe(encryptSecret("same", keys));
  });

  it("refuses to encrypt without ENCRYPTION_KEY, saying which variable is missing", () => {
    expect(() => encryptSecret("x", {})).toThrow(/ENCRYPTION_KEY is not configured/);
  });

  it("reports a changed key instead of returning garbage", () => {
    const stored = encryptSecret("secret", keys);
    expect(() => decryptSecret(stored, { encryptionKey: Buffer.alloc(32, 4).toString("base64") })).toThrow(/cannot be decrypted/);
  });

  it("reads the original product's Fernet tokens with ENCRYPTION_MASTER_KEY", () => {
    const token = fernetToken("ancien-mot-de-passe", "master");
    expect(decryptSecret(token, { legacyMasterKey: "master" })).toBe("ancien-mot-de-passe");
    expect(() => decryptSecret(token, { legacyMasterKey: "other" })).toThrow(/does not match/);
    expect(() => decryptSecret(token, {})).toThrow(/ENCRYPTION_MASTER_KEY/);
  });

  it("reads clear-text passwords the original stored when it had no key", () => {
    expect(decryptSecret("plain-password", keys)).toBe("plain-password");
  });
});
