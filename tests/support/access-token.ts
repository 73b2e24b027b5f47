// A real access token from the tests' authorization server, for an account, as an app holds one
// after the person consented: the authorization code flow with PKCE, redeemed at the token endpoint.
// For tests of API clients (the local Gmail server checks it by RFC 7662 introspection).

import { createHash, randomBytes } from "node:crypto";
import { type AuthorizationServerInfo, consentAs } from "./authorization-server.js";

/** The loopback redirect registered for the tests' client (RFC 8252 §7.3: any port). */
const REDIRECT_URI = "http://127.0.0.1/callback";

export async function accessTokenFor(server: AuthorizationServerInfo, accountId: string): Promise<string> {
  const verifier = randomBytes(32).toString("base64url");
  const state = randomBytes(16).toString("base64url");
  const authorize = new URL(`${server.issuer}/auth`);
  authorize.search = new URLSearchParams({
    client_id: server.clientId,
    redirect_uri: REDIRECT_URI,
    response_type: "code",
    scope: "openid email",
    state,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  }).toString();
  const back = await consentAs(server, authorize.href, accountId);
  const code = back.searchParams.get("code");
  if (!code || back.searchParams.get("state") !== state) throw new Error(`no authorization code came back: ${back.search}`);
  const response = await fetch(`${server.issuer}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code, redirect_uri: REDIRECT_URI, code_verifier: verifier,
      client_id: server.clientId, client_secret: server.clientSecret,
    }),
  });
  const tokens = (await response.json()) as { access_token?: string; error?: string };
  if (!tokens.access_token) throw new Error(`the token endpoint refused the code: ${tokens.error ?? response.status}`);
  return tokens.access_token;
}
