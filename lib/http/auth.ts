// The cron secret rule, shared by every job endpoint: `Authorization: Bearer …` (Vercel Cron, the
// safe form: query strings end up in access logs) or `?secret=…` (what cron-job.org users paste).

import type { Config } from "../config.js";
import { safeEqual } from "../crypto/safe-equal.js";
import { HttpError } from "../errors.js";
import type { Logger } from "../log.js";

/** The original guide's advice ("minimum 32 caractères"), enforced in production. */
export const MIN_SECRET_LENGTH = 32;

/**
 * Throws the HTTP answer when the request may not run a job: 503 when no secret is configured in
 * production (or one shorter than 32 characters), 403 when the secret is missing or wrong. Outside
 * production an unset secret lets the request through with a warning, as the original product did
 * in development.
 */
export function assertCronSecret(req: Request, config: Config, log: Logger): void {
  assertSecretConfigured(config);
  if (config.cronSecrets.length === 0) {
    log.warn("CRON_SECRET is not set: endpoint open (development only)");
    return;
  }
  const given = presentedSecret(req);
  if (!isAcceptedSecret(given, config)) {
    log.warn("rejected request with a missing or wrong secret", { hasSecret: given !== undefined });
    throw new HttpError(403, "Invalid secret. Provide Authorization: Bearer <CRON_SECRET> or ?secret=<CRON_SECRET>");
  }
}

/** Throws the 503 answer when production runs without a secret, or with one shorter than 32 characters. */
export function assertSecretConfigured(config: Config): void {
  if (!config.isProduction) return;
  if (config.cronSecrets.length === 0) {
    throw new HttpError(503, "CRON_SECRET is not configured: set it in the environment to enable this endpoint");
  }
  if (config.cronSecrets.some((s) => s.length < MIN_SECRET_LENGTH)) {
    throw new HttpError(503, `CRON_SECRET is too short: use at least ${MIN_SECRET_LENGTH} characters (openssl rand -hex 32)`);
  }
}

/** True when `given` is one of the configured secrets (never true when none is configured). */
export function isAcceptedSecret(given: string | undefined, config: Config): boolean {
  // Compare against every accepted secret without stopping early, so timing says nothing of which matched.
  const matches = config.cronSecrets.map((expected) => given !== undefined && safeEqual(given, expected));
  return matches.includes(true);
}

function presentedSecret(req: Request): string | undefined {
  const header = req.headers.get("authorization");
  const bearer = header?.match(/^Bearer\s+(.+)$/i)?.[1]?.trim();
  if (bearer) return bearer;
  const query = new URL(req.url).searchParams.get("secret");
  return query === null ? undefined : query;
}
