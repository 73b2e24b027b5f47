// Short-lived signed links to start connecting a mailbox, for the app to hand to a business owner
// (who must not hold the cron secret): HMAC-SHA256 over the company, the provider and the expiry,
// with a key derived from ENCRYPTION_KEY (else the cron secret), so no new secret is needed.

import { createHmac } from "node:crypto";
import type { Config } from "../config.js";
import { safeEqual } from "../crypto/safe-equal.js";
import type { OAuthProviderName } from "../db/schema.js";

/** How long a link works when the app does not say. */
export const START_LINK_TTL_MS = 30 * 60_000;
/** The longest a link may work: past that, leaked links would keep opening consent pages. */
export const MAX_START_LINK_TTL_MS = 24 * 60 * 60_000;

export interface StartLink {
  companyId: number;
  provider: OAuthProviderName;
  expiresAt: Date;
}

/** The query string (`company`, `provider`, `expires`, `signature`) of a signed start link. */
export function signStartLink(config: Config, link: StartLink): URLSearchParams {
  const expires = String(Math.floor(link.expiresAt.getTime() / 1000));
  return new URLSearchParams({
    company: String(link.companyId),
    provider: link.provider,
    expires,
    signature: signature(config, link.companyId, link.provider, expires),
  });
}

/** True when `query` carries a valid, unexpired signature for its company and provider. */
export function isStartLinkValid(config: Config, query: URLSearchParams, now: Date): boolean {
  const [company, provider, expires, given] = ["company", "provider", "expires", "signature"].map((name) => query.get(name));
  if (!company || !provider || !expires || !given || !/^\d+$/.test(expires)) return false;
  const expiresAtMs = Number(expires) * 1000;
  if (expiresAtMs <= now.getTime() || expiresAtMs > now.getTime() + MAX_START_LINK_TTL_MS) return false;
  const key = linkKey(config);
  return key !== undefined && safeEqual(given, signature(config, Number(company), provider, expires));
}

function signature(config: Config, companyId: number, provider: string, expires: string): string {
  const key = linkKey(config);
  if (!key) throw new Error("signed links need ENCRYPTION_KEY or CRON_SECRET");
  return createHmac("sha256", key).update(`oauth-start|${companyId}|${provider}|${expires}`).digest("base64url");
}

/** A key of its own (not the encryption key itself), so a signature reveals nothing usable elsewhere. */
function linkKey(config: Config): Buffer | undefined {
  const root = config.encryptionKey ?? config.cronSecrets[0];
  return root ? createHmac("sha256", root).update("lokario-cron oauth start link v1").digest() : undefined;
}
