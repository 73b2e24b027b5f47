// A real OAuth2 / OpenID Connect authorization server for the test run (oidc-provider): authorization
// code with PKCE, refresh tokens that rotate on every use, revocation, and RFC 7662 introspection,
// which Dovecot and the test SMTP server call to accept or refuse an XOAUTH2 login.
// Logging in needs no browser: `GET /interaction/:uid?login=ACCOUNT` (with the cookies the
// authorization request set) logs ACCOUNT in and grants what was asked, as a user clicking through
// the provider's login and consent pages would. Account ids are mailbox logins.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import Provider from "oidc-provider";
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

/** The app's callback as registered with the provider in tests (never actually served). */
export const TEST_WEB_REDIRECT_URI = "https://app.lokario.test/api/integrations/oauth/callback";
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
        token_endpoint_auth_method: "client_secret_basic",
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
      introspection: { enabled: true },
      revocation: { enabled: true },
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    rotateRefreshToken: true,
    ttl: { AccessToken: ACCESS_TOKEN_TTL_S, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 86_400, RefreshToken: 86_400 },
    pkce: { required: () => true },
  });
  const handle = provider.callback();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", issuer);
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
