// The OAuth2 providers a mailbox can be connected with: where to send the user, where to trade a code
// or a refresh token for an access token, what to ask for, and which IMAP and SMTP servers accept
// the token, and which scopes each transport needs (`scopesFor`: IMAP and SMTP, or Microsoft Graph).
// Google and Microsoft are fixed; the generic one is read from its issuer's discovery
// document (OpenID Connect Discovery 1.0 §4), and is what the tests run against.

import type { Config } from "../config.js";
import type { MailTransport, OAuthProviderName } from "../db/schema.js";
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
  /** What IMAP and SMTP (XOAUTH2) need. */
  scopes: string[];
  /**
   * What Microsoft Graph needs, for the person's own mailbox and for a shared one; absent for a
   * provider whose tokens Graph does not take. Sent on every refresh (`isScopedRefresh`).
   */
  graphScopes?: { own: string[]; shared: string[] };
  /** What the Gmail API needs (reading and sending the person's own mailbox); absent for a provider other than Google. */
  gmailScopes?: string[];
  /**
   * True when a refresh must name its scopes: Microsoft's token endpoint issues a token for one
   * resource (Outlook for IMAP/SMTP, Graph), chosen by the scopes of the request.
   */
  isScopedRefresh?: boolean;
  /** Extra authorization parameters that make the provider issue a refresh token. */
  authorizationParams: Record<string, string>;
  endpoints(): Promise<OAuthEndpoints>;
  imap: { host: string; port: number; useSsl: boolean };
  smtp?: { host: string; port: number; isSecure: boolean };
  tlsRejectUnauthorized: boolean;
}

const DISCOVERY_TIMEOUT_MS = 10_000;
const GRAPH_SCOPE_ROOT = "https://graph.microsoft.com/";

/** The transports a person may choose when connecting. */
export const CONNECT_TRANSPORTS = ["imap", "graph", "gmail-api"] as const satisfies readonly MailTransport[];
export type ConnectTransport = (typeof CONNECT_TRANSPORTS)[number];

/**
 * `text` as a transport `provider` can be connected with, or a `bad-input` JobError: Graph only
 * for a provider whose tokens it takes (Microsoft; not Google), the Gmail API only for Google's.
 */
export function parseConnectTransport(provider: OAuthProvider, text: string | null | undefined): ConnectTransport {
  if (text === null || text === undefined || text === "imap") return "imap";
  if (text === "graph") {
    if (!provider.graphScopes) throw new JobError("bad-input", `${provider.name} mailboxes cannot be connected through Microsoft Graph`);
    return "graph";
  }
  if (text === "gmail-api") {
    if (!provider.gmailScopes) throw new JobError("bad-input", `${provider.name} mailboxes cannot be connected through the Gmail API`);
    return "gmail-api";
  }
  throw new JobError("bad-input", `via must be one of ${CONNECT_TRANSPORTS.join(", ")}`);
}

/** The scopes a connection (or a refresh) of `transport` asks for. */
export function scopesFor(provider: OAuthProvider, transport: MailTransport, isSharedMailbox: boolean): string[] {
  if (transport === "graph" && provider.graphScopes) return isSharedMailbox ? provider.graphScopes.shared : provider.graphScopes.own;
  if (transport === "gmail-api" && provider.gmailScopes) return provider.gmailScopes;
  return provider.scopes;
}

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
      // Reading (messages, history, watch) and sending, nothing more: the product never changes a
      // label nor deletes, so gmail.modify (which also may trash) would grant more than it uses.
      // Both are restricted or sensitive scopes all the same (docs/google.md: verification).
      gmailScopes: ["https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.send", "openid", "email"],
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
      // Graph's delegated mail permissions; a shared mailbox (`/users/{address}`) needs the .Shared
      // ones, which also cover the person's own mail ("Microsoft Graph permissions reference").
      graphScopes: {
        own: [`${GRAPH_SCOPE_ROOT}Mail.Read`, `${GRAPH_SCOPE_ROOT}Mail.Send`, "offline_access", "openid", "email"],
        shared: [`${GRAPH_SCOPE_ROOT}Mail.Read.Shared`, `${GRAPH_SCOPE_ROOT}Mail.Send.Shared`, "offline_access", "openid", "email"],
      },
      isScopedRefresh: true,
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
      // A generic provider's tokens are whatever its issuer grants: the configured scopes serve Graph
      // too when the Graph server trusts that issuer (the tests' local Graph server does).
      graphScopes: { own: oidc.scopes, shared: oidc.scopes },
      // The same for the Gmail API when its server trusts that issuer (the tests' local Gmail server does).
      gmailScopes: oidc.scopes,
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
