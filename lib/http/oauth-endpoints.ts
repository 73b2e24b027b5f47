// The endpoints the app uses to connect a mailbox with OAuth2:
//   GET /api/integrations/oauth/start?company=ID&provider=google|microsoft|oidc
//     behind the cron secret (Bearer) or a signed link; answers 302 to the provider's consent page.
//     With `format=link` (cron secret only) it answers JSON with a signed link, valid 30 minutes
//     (or `ttl_minutes`, at most a day), that the app can hand to the business owner.
//   GET /api/integrations/oauth/callback?code=…&state=…
//     where the provider sends the owner back; stores the connection and answers JSON.

import { type Config } from "../config.js";
import { type Db, openDb } from "../db/client.js";
import { OAUTH_PROVIDERS, type OAuthProviderName } from "../db/schema.js";
import { ERROR_KINDS, HttpError, JobError } from "../errors.js";
import { DatabaseUnavailableError } from "../jobs/run-job.js";
import { completeAuthorization } from "../oauth/complete-authorization.js";
import { isStartLinkValid, MAX_START_LINK_TTL_MS, signStartLink, START_LINK_TTL_MS } from "../oauth/start-link.js";
import { startAuthorization } from "../oauth/start-authorization.js";
import { assertCronSecret } from "./auth.js";
import { type EndpointOptions, guardedEndpoint } from "./endpoint.js";
import { json } from "./respond.js";

export const OAUTH_START_PATH = "/api/integrations/oauth/start";
export const OAUTH_CALLBACK_PATH = "/api/integrations/oauth/callback";

/** `GET /api/integrations/oauth/start`. */
export function oauthStartEndpoint(options: EndpointOptions = {}) {
  return guardedEndpoint("endpoint:oauth-start", ["GET"], options, async (req, { config, log }) => {
    const query = new URL(req.url).searchParams;
    const now = options.now?.() ?? new Date();
    const isSignedLink = query.has("signature");
    if (isSignedLink) {
      if (!isStartLinkValid(config, query, now)) throw new HttpError(403, "This link is invalid or has expired: ask for a new one");
    } else {
      assertCronSecret(req, config, log);
    }
    const companyId = Number(query.get("company"));
    const provider = query.get("provider") as OAuthProviderName;
    if (!Number.isSafeInteger(companyId) || companyId <= 0) throw new HttpError(400, "company must be a company id");
    if (!OAUTH_PROVIDERS.includes(provider)) throw new HttpError(400, `provider must be one of ${OAUTH_PROVIDERS.join(", ")}`);

    if (query.get("format") === "link" && !isSignedLink) {
      const ttlMs = Math.min(Number(query.get("ttl_minutes") ?? START_LINK_TTL_MS / 60_000) * 60_000 || START_LINK_TTL_MS, MAX_START_LINK_TTL_MS);
      const expiresAt = new Date(now.getTime() + ttlMs);
      const link = new URL(OAUTH_START_PATH, new URL(req.url).origin);
      link.search = signStartLink(config, { companyId, provider, expiresAt }).toString();
      return json(200, { success: true, link: link.href, expiresAt: expiresAt.toISOString() });
    }
    const redirectUri = config.oauth.redirectUrl;
    if (!redirectUri) throw new HttpError(503, "OAUTH_REDIRECT_URL (or PUBLIC_BASE_URL) is not configured");
    const start = await withDb(config, options.db, (db) => startAuthorization(db, config, { companyId, provider, redirectUri, now }));
    log.info("oauth authorization started", { companyId, provider });
    return new Response(null, { status: 302, headers: { location: start.url, "cache-control": "no-store" } });
  });
}

/** `GET /api/integrations/oauth/callback`: the provider's redirect back. */
export function oauthCallbackEndpoint(options: EndpointOptions = {}) {
  return guardedEndpoint("endpoint:oauth-callback", ["GET"], options, async (req, { config, log }) => {
    const now = options.now?.() ?? new Date();
    // The state is the authentication here: it was issued to one company, and works once.
    const connected = await withDb(config, options.db, (db) => completeAuthorization(db, config, new URL(req.url), now));
    log.info("oauth mailbox connected", { integrationId: connected.integrationId, companyId: connected.companyId, isNew: connected.isNew });
    return json(200, { success: true, ...connected });
  });
}

/** Runs `work` on the given database or a fresh one; a JobError becomes the HTTP answer of its kind. */
async function withDb<T>(config: Config, given: Db | undefined, work: (db: Db) => Promise<T>): Promise<T> {
  const opened = given ? undefined : await openDb(config.database).catch((err: unknown) => {
    throw new DatabaseUnavailableError(err);
  });
  try {
    return await work(given ?? opened!.db);
  } catch (err) {
    if (err instanceof JobError) throw new HttpError(ERROR_KINDS[err.kind].status, err.message);
    throw err;
  } finally {
    await opened?.close();
  }
}
