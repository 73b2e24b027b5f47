// Checks the OIDC token Pub/Sub sends with each push ("Authentication for push subscriptions",
// Google Cloud Pub/Sub docs): a JWT signed by Google (RS256, keys published at Google's JWKS
// address), issued by accounts.google.com, for the audience the subscription names (the endpoint's
// URL), by the service account the subscription authenticates as, its email verified. Anyone with
// a Google account can get a Google-signed token for any audience, so the service account check is
// what ties a push to the deployment's own subscription. With `jose`, the maintained JOSE library.

import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from "jose";

/** Where Google publishes the keys that sign its ID tokens. */
export const GOOGLE_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs";
/** Google's ID tokens name their issuer either way. */
export const GOOGLE_ISSUERS: readonly string[] = ["https://accounts.google.com", "accounts.google.com"];
/** Clocks differ a little between Google and a platform's function. */
const CLOCK_TOLERANCE_S = 60;

export interface PushTokenPolicy {
  /** The `aud` the subscription sets: the push endpoint's URL unless configured otherwise. */
  audience: string;
  /** The subscription's service account (`email` claim); refused in production when missing (lib/config.ts). */
  serviceAccountEmail?: string;
  issuers: readonly string[];
  keys: JWTVerifyGetKey;
  now: () => Date;
}

export type PushTokenCheck =
  | { isValid: true; claims: JWTPayload }
  | { isValid: false; status: 401 | 403; reason: string };

/**
 * Google's keys at `url`, fetched on first use and kept (jose refetches when a token names a key it
 * does not know, at most every 30 s, and after 10 minutes): one set per address for the process,
 * so a warm function does not refetch them for every push.
 */
export function googleSigningKeys(url: string = GOOGLE_JWKS_URL): JWTVerifyGetKey {
  let keys = keySets.get(url);
  if (!keys) {
    keys = createRemoteJWKSet(new URL(url), { timeoutDuration: 5_000 });
    keySets.set(url, keys);
  }
  return keys;
}
const keySets = new Map<string, JWTVerifyGetKey>();

/**
 * Checks the request's `Authorization: Bearer <JWT>`. A missing, malformed, unsigned, expired or
 * wrongly addressed token is 401; a valid Google token of another account is 403. Throws when
 * Google's keys cannot be had (our failure, not the caller's: the push is retried).
 */
export async function verifyPushToken(authorization: string | null, policy: PushTokenPolicy): Promise<PushTokenCheck> {
  const token = /^Bearer +([A-Za-z0-9_.=-]+)$/i.exec(authorization?.trim() ?? "")?.[1];
  if (!token) return { isValid: false, status: 401, reason: "no bearer token" };
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(token, policy.keys, {
      issuer: [...policy.issuers],
      audience: policy.audience,
      algorithms: ["RS256"],
      requiredClaims: ["exp", "iat"],
      currentDate: policy.now(),
      clockTolerance: CLOCK_TOLERANCE_S,
    }));
  } catch (err) {
    if (isKeyFetchFailure(err)) throw err;
    return { isValid: false, status: 401, reason: err instanceof errors.JOSEError ? err.code : "unreadable token" };
  }
  if (policy.serviceAccountEmail !== undefined) {
    if (claims.email !== policy.serviceAccountEmail || claims.email_verified !== true) {
      return { isValid: false, status: 403, reason: "token of another account than the subscription's service account" };
    }
  }
  return { isValid: true, claims };
}

/**
 * The key set could not be fetched or read, so nothing is known about the token yet: jose raises
 * JWKSTimeout, JWKSInvalid, its base JOSEError for a non-200 answer, and the fetch's own error.
 */
function isKeyFetchFailure(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return true;
  return !(err instanceof errors.JOSEError) || err.constructor === errors.JOSEError;
}
