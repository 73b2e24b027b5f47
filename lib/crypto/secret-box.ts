// Passwords at rest: AES-256-GCM with ENCRYPTION_KEY, stored as "v1:<base64(iv|tag|ciphertext)>".
// Also reads what the original product stored (Fernet tokens, or clear text when it had no key), so
// an existing database works without every customer re-entering a password.

import { createCipheriv, createDecipheriv, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { JobError } from "../errors.js";

export interface SecretKeys {
  /** 32 bytes, base64 (or 64 hex digits). */
  encryptionKey?: string;
  /** The original product's ENCRYPTION_MASTER_KEY (Fernet), read-only support. */
  legacyMasterKey?: string;
}

const PREFIX = "v1:";
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The original product's key derivation (PBKDF2-HMAC-SHA256, fixed salt, 100 000 rounds). */
const LEGACY_SALT = "lokario_encryption_salt";
const LEGACY_ROUNDS = 100_000;
const FERNET_VERSION = 0x80;

/** Encrypts a password for storage. Throws when ENCRYPTION_KEY is missing or malformed. */
export function encryptSecret(plain: string, keys: SecretKeys): string {
  const key = currentKey(keys);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString("base64");
}

/** Reads a stored password: ours, a Fernet token of the original product, or legacy clear text. */
export function decryptSecret(stored: string, keys: SecretKeys): string {
  if (stored.startsWith(PREFIX)) {
    const raw = Buffer.from(stored.slice(PREFIX.length), "base64");
    const decipher = createDecipheriv("aes-256-gcm", currentKey(keys), raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      throw new JobError("permanent", "stored password cannot be decrypted with ENCRYPTION_KEY (was the key changed?)");
    }
  }
  if (isFernetToken(stored)) return decryptFernet(stored, keys);
  return stored;
}

function currentKey(keys: SecretKeys): Buffer {
  const text = keys.encryptionKey?.trim();
  if (!text) throw new JobError("permanent", "ENCRYPTION_KEY is not configured: it is needed to store and read mailbox passwords");
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, "hex") : Buffer.from(text, "base64");
  if (key.length !== 32) throw new JobError("permanent", "ENCRYPTION_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)");
  return key;
}

function isFernetToken(value: string): boolean {
  // Version byte 0x80 encodes to "gA" in URL-safe base64.
  return value.startsWith("gAAAAA") && /^[A-Za-z0-9_=-]+$/.test(value);
}

/** Fernet (version 0x80 | timestamp 8 | IV 16 | AES-128-CBC ciphertext | HMAC-SHA256 32). */
function decryptFernet(token: string, keys: SecretKeys): string {
  if (!keys.legacyMasterKey) {
    throw new JobError("permanent", "password was stored by the original product: set ENCRYPTION_MASTER_KEY to read it");
  }
  const derived = pbkdf2Sync(keys.legacyMasterKey, LEGACY_SALT, LEGACY_ROUNDS, 32, "sha256");
  const signingKey = derived.subarray(0, 16);
  const encryptionKey = derived.subarray(16, 32);
  const raw = Buffer.from(token.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (raw.length < 1 + 8 + 16 + 16 + 32 || raw[0] !== FERNET_VERSION) {
    throw new JobError("permanent", "stored password is not a valid Fernet token");
  }
  const signed = raw.subarray(0, raw.length - 32);
  const expected = createHmac("sha256", signingKey).update(signed).digest();
  if (!timingSafeEqual(expected, raw.subarray(raw.length - 32))) {
    throw new JobError("permanent", "stored password does not match ENCRYPTION_MASTER_KEY");
  }
  const decipher = createDecipheriv("aes-128-cbc", encryptionKey, raw.subarray(9, 25));
  return Buffer.concat([decipher.update(raw.subarray(25, raw.length - 32)), decipher.final()]).toString("utf8");
}
