// The OAuth2 providers a mailbox can be connected with: where to send the user, where to trade a code
// or a refresh token for an access token, what to ask for, and which IMAP and SMTP servers accept
// the token. Google and Microsoft are fixed; the generic one is read from its issuer's discovery
// document (OpenID Connect Discovery 1.0 §4), and is what the tests run against.

import type { Config } from "../config.js";
import type { OAuthProviderName } from "../db/schema.js";
import { JobError } from "../errors.js";

export interface OAuthEndpoints {
  authorization: string;
  token: string;
  userinfo?: string;
}

/** One provider, with this deployment's app credentials. */
export interface OAuthProvider {
  name: OAuthProviderName;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  /** Extra authorization parameters that make the provider issue a refresh token. */
  authorizationParams: Record<string, string>;
  endpoints(): Promise<OAuthEndpoints>;
  imap: { host: string; port: number; useSsl: boolean };
  smtp?: { host: string; port: number; isSecure: boolean };
  tlsRejectUnauthorized: boolean;
}

const DISCOVERY_TIMEOUT_MS = 10_000;

/**
 * The provider called `name`, or a `bad-input` JobError when this deployment has no app registered
 * with it (its client id and secret are not set).
 */
export function oauthProvider(config: Config, name: OAuthProviderName): OAuthProvider {
  const { google, microsoft, oidc } = config.oauth;
  if (name === "google" && google) {
    return {
      name, ...google,
      // https://mail.google.com/ is the only scope Gmail accepts for IMAP and SMTP (XOAUTH2).
      scopes: ["https://mail.google.com/", "openid", "email"],
      // Without both, Google issues a refresh token on the first consent only, or not at all.
      authorizationParams: { access_type: "offline", prompt: "consent" },
      endpoints: async () => ({
        authorization: "https://accounts.google.com/o/oauth2/v2/auth",
        token: "https://oauth2.googleapis.com/token",
        userinfo: "https://openidconnect.googleapis.com/v1/userinfo",
      }),
      imap: { host: "imap.gmail.com", port: 993, useSsl: true },
      smtp: { host: "smtp.gmail.com", port: 465, isSecure: true },
      tlsRejectUnauthorized: true,
    };
  }
  if (name === "microsoft" && microsoft) {
    const base = `https://login.microsoftonline.com/${encodeURIComponent(microsoft.tenant)}/oauth2/v2.0`;
    return {
      name, clientId: microsoft.clientId, clientSecret: microsoft.clientSecret,
      // The Outlook resource's delegated permissions; offline_access is what yields a refresh token.
      scopes: [
        "https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send",
        "offline_access", "openid", "email",
      ],
      authorizationParams: {},
      // The access token is for outlook.office.com, so Graph's userinfo would refuse it: the
      // address comes from the ID token.
      endpoints: async () => ({ authorization: `${base}/authorize`, token: `${base}/token` }),
      imap: { host: "outlook.office365.com", port: 993, useSsl: true },
      smtp: { host: "smtp.office365.com", port: 587, isSecure: false },
      tlsRejectUnauthorized: true,
    };
  }
  if (name === "oidc" && oidc) {
    return {
      name, clientId: oidc.clientId, clientSecret: oidc.clientSecret, scopes: oidc.scopes,
      // OpenID Connect Core §11: offline_access is only honoured with prompt=consent.
      authorizationParams: { prompt: "consent" },
      endpoints: () => discover(oidc.issuer),
      imap: oidc.imap,
      smtp: oidc.smtp,
      tlsRejectUnauthorized: oidc.tlsRejectUnauthorized,
    };
  }
  throw new JobError("bad-input", `OAuth2 provider "${name}" is not configured (set its CLIENT_ID and CLIENT_SECRET)`);
}

const discovered = new Map<string, Promise<OAuthEndpoints>>();

/** The issuer's endpoints, fetched once per process (a failed fetch is retried on the next call). */
function discover(issuer: string): Promise<OAuthEndpoints> {
  let endpoints = discovered.get(issuer);
  if (!endpoints) {
    endpoints = fetchDiscovery(issuer);
    discovered.set(issuer, endpoints);
    endpoints.catch(() => discovered.delete(issuer));
  }
  return endpoints;
}

async function fetchDiscovery(issuer: string): Promise<OAuthEndpoints> {
  const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  let document: { authorization_endpoint?: unknown; token_endpoint?: unknown; userinfo_endpoint?: unknown };
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    document = (await response.json()) as typeof document;
  } catch (err) {
    throw new JobError("transient", `OpenID Connect discovery failed at ${url}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (typeof document.authorization_endpoint !== "string" || typeof document.token_endpoint !== "string") {
    throw new JobError("permanent", `OpenID Connect discovery at ${url} names no authorization or token endpoint`);
  }
  return {
    authorization: document.authorization_endpoint,
    token: document.token_endpoint,
    userinfo: typeof document.userinfo_endpoint === "string" ? document.userinfo_endpoint : undefined,
  };
}
