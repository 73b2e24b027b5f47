// A real OAuth2 / OpenID Connect authorization server for the test run (oidc-provider): authorization
// code with PKCE, refresh tokens that rotate on every use, revocation, and RFC 7662 introspection,
// which Dovecot and the test SMTP server call to accept or refuse an XOAUTH2 login.
// Logging in needs no browser: `GET /interaction/:uid?login=ACCOUNT` (with the cookies the
// authorization request set) logs ACCOUNT in and grants what was asked, as a user clicking through
// the provider's login and consent pages would. Account ids are mailbox logins.
// Shared mailboxes: `grantMailboxAccess` gives an account Full Access to another mailbox, as an
// Exchange administrator does; from then on the introspection of that account's tokens also names
// the mailbox (`shared_mailbox`), which Dovecot and the SMTP server accept as the XOAUTH2 user. It is
// read at each introspection, so removing the access refuses the next login with a live token.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import Provider from "oidc-provider";
import { inject } from "vitest";
import { freePort } from "./ports.js";

export interface AuthorizationServerInfo {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** The redirect URI registered for the app's callback endpoint (the loopback one, any port, is also allowed). */
  webRedirectUri: string;
}

export interface AuthorizationServer extends AuthorizationServerInfo {
  stop(): Promise<void>;
}

/**
 * The settings that make the product sign mailboxes in through the test authorization server and
 * log them in on Dovecot's TLS port, whose certificate is self-signed.
 */
export function oidcEnv(): Record<string, string> {
  const server = inject("authorizationServer");
  return {
    OIDC_ISSUER: server.issuer,
    OIDC_CLIENT_ID: server.clientId,
    OIDC_CLIENT_SECRET: server.clientSecret,
    OIDC_IMAP_HOST: "127.0.0.1",
    OIDC_IMAP_PORT: String(inject("dovecot").tlsPort),
    OIDC_TLS_REJECT_UNAUTHORIZED: "false",
  };
}

/** Revokes a token at the server (RFC 7009), as a user removing the app's access would. */
export async function revokeToken(server: AuthorizationServerInfo, token: string): Promise<void> {
  const response = await fetch(`${server.issuer}/token/revocation`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, client_id: server.clientId, client_secret: server.clientSecret }),
  });
  if (!response.ok) throw new Error(`revocation failed: HTTP ${response.status}`);
}

/** Whether the server still considers `token` active (RFC 7662), as Dovecot asks it. */
export async function isTokenActive(server: AuthorizationServerInfo, token: string): Promise<boolean> {
  const response = await fetch(`${server.issuer}/token/introspection`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, client_id: server.clientId, client_secret: server.clientSecret }),
  });
  return ((await response.json()) as { active?: boolean }).active === true;
}

/**
 * Gives `account` access to the shared `mailbox` (one per account), or takes it away (`mailbox`
 * undefined), as removing a member's Full Access in Exchange does.
 */
export async function grantMailboxAccess(server: AuthorizationServerInfo, account: string, mailbox: string | undefined): Promise<void> {
  const query = new URLSearchParams({ account, ...(mailbox ? { mailbox } : {}) });
  const response = await fetch(`${server.issuer}${MAILBOX_ACCESS_PATH}?${query}`, { method: "POST" });
  if (!response.ok) throw new Error(`granting mailbox access failed: HTTP ${response.status}`);
}

/** A minimal cookie jar: the provider's interaction cookies, sent back by name (one server, loopback). */
export function cookieJar() {
  const cookies = new Map<string, string>();
  return {
    /** GET `url` without following redirects, keeping the cookies it sets. */
    async get(url: string): Promise<Response> {
      const response = await fetch(url, {
        redirect: "manual",
        headers: { cookie: [...cookies].map(([name, value]) => `${name}=${value}`).join("; ") },
      });
      for (const line of response.headers.getSetCookie()) {
        const pair = line.split(";")[0]!;
        const at = pair.indexOf("=");
        cookies.set(pair.slice(0, at), pair.slice(at + 1));
      }
      return response;
    },
  };
}

/**
 * Plays the person at the provider: opens the authorization URL, logs in as `accountId`, consents,
 * and returns where the provider sends the browser back (the app's redirect URI with code and state).
 */
export async function consentAs(server: AuthorizationServerInfo, authorizationUrl: string, accountId: string): Promise<URL> {
  const jar = cookieJar();
  const toInteraction = await jar.get(authorizationUrl);
  const interaction = new URL(expectRedirect(toInteraction, "the login page"), server.issuer);
  interaction.searchParams.set("login", accountId);
  const toResume = await jar.get(interaction.href);
  const resumed = await jar.get(new URL(expectRedirect(toResume, "resuming the authorization"), server.issuer).href);
  return new URL(expectRedirect(resumed, "the app's redirect URI"));
}

function expectRedirect(response: Response, what: string): string {
  const location = response.headers.get("location");
  if (response.status < 300 || response.status > 399 || !location) throw new Error(`expected a redirect to ${what}, got HTTP ${response.status}`);
  return location;
}

/** The app's callback as registered with the provider in tests (never actually served). */
export const TEST_WEB_REDIRECT_URI = "https://app.lokario.test/api/integrations/oauth/callback";
/** Where tests grant an account access to a shared mailbox (never part of a real provider). */
const MAILBOX_ACCESS_PATH = "/test/mailbox-access";
/** Access tokens live this long at the provider; tests move the product's clock, not the provider's. */
const ACCESS_TOKEN_TTL_S = 3600;

/** Starts the authorization server on a free loopback port. */
export async function startAuthorizationServer(): Promise<AuthorizationServer> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const clientId = "lokario-test";
  const clientSecret = randomBytes(24).toString("hex");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        // Native: RFC 8252 §7.3 loopback redirects are accepted on any port (the CLI's listener).
        application_type: "native",
        redirect_uris: [TEST_WEB_REDIRECT_URI, "http://127.0.0.1/callback"],
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        // What the product uses (lib/oauth/request-token.ts), and Dovecot's introspection too.
        token_endpoint_auth_method: "client_secret_post",
      },
    ],
    jwks: { keys: [{ ...privateKey.export({ format: "jwk" }), use: "sig", alg: "RS256", kid: "test" }] },
    cookies: { keys: [randomBytes(16).toString("hex")] },
    claims: { openid: ["sub"], email: ["email", "email_verified"] },
    findAccount: (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: () => ({ sub: id, email: id, email_verified: true }),
    }),
    features: {
      devInteractions: { enabled: false },
      // Only our one client exists, and it may look at and revoke its own tokens.
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true, allowedPolicy: async () => true },
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    rotateRefreshToken: true,
    ttl: { AccessToken: ACCESS_TOKEN_TTL_S, IdToken: ACCESS_TOKEN_TTL_S, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 86_400, RefreshToken: 86_400 },
    pkce: { required: () => true },
  });
  const sharedMailboxOf = new Map<string, string>();
  provider.use(async (ctx, next) => {
    await next();
    const answer = ctx.body as { active?: boolean; sub?: string } | undefined;
    if (ctx.path !== "/token/introspection" || answer?.active !== true || !answer.sub) return;
    const mailbox = sharedMailboxOf.get(answer.sub);
    if (mailbox) ctx.body = { ...answer, shared_mailbox: mailbox };
  });
  const handle = provider.callback();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    if (req.method === "POST" && url.pathname === MAILBOX_ACCESS_PATH) {
      const account = url.searchParams.get("account") ?? "";
      const mailbox = url.searchParams.get("mailbox");
      if (mailbox) sharedMailboxOf.set(account, mailbox);
      else sharedMailboxOf.delete(account);
      res.writeHead(204).end();
      return;
    }
    if (req.method === "GET" && url.pathname.startsWith("/interaction/")) {
      const accountId = url.searchParams.get("login");
      if (!accountId) {
        res.writeHead(400).end("login=ACCOUNT is required");
        return;
      }
      logInAndConsent(provider, req, res, accountId, clientId).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500);
        res.end(String(err));
      });
      return;
    }
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  return {
    issuer, clientId, clientSecret, webRedirectUri: TEST_WEB_REDIRECT_URI,
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function logInAndConsent(
  provider: Provider,
  req: Parameters<Provider["interactionDetails"]>[0],
  res: Parameters<Provider["interactionDetails"]>[1],
  accountId: string,
  clientId: string,
): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  const grant = new provider.Grant({ accountId, clientId });
  grant.addOIDCScope(String(details.params.scope ?? "openid"));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}
