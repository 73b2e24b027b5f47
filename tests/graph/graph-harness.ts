// What the Graph tests share: real access tokens from the tests' authorization server (the OAuth2
// authorization code flow with PKCE, as a person consenting would go through it), a Graph client
// on a clock the test moves and whose waits are recorded instead of slept, and the notification
// endpoint served on loopback through the local server's own node:http bridge.

import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createGraphClient, type GraphClient } from "../../lib/graph/graph-client.js";
import type { MailboxLimiter } from "../../lib/graph/mailbox-limiter.js";
import { graphNotificationEndpoint, type NotificationEndpointDeps } from "../../lib/graph/notification-endpoint.js";
import { sendWebResponse, toWebRequest } from "../../server/node-http-bridge.js";
import { type AuthorizationServerInfo, consentAs, TEST_WEB_REDIRECT_URI } from "../support/authorization-server.js";

/** An access token for `account`, obtained as the product obtains one: consent, then code exchange. */
export async function issueAccessToken(server: AuthorizationServerInfo, account: string): Promise<string> {
  const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as { authorization_endpoint: string; token_endpoint: string };
  const verifier = randomBytes(32).toString("base64url");
  const authorization = new URL(discovery.authorization_endpoint);
  authorization.search = new URLSearchParams({
    client_id: server.clientId,
    response_type: "code",
    redirect_uri: TEST_WEB_REDIRECT_URI,
    scope: "openid",
    state: randomBytes(8).toString("hex"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
  }).toString();
  const back = await consentAs(server, authorization.href, account);
  const code = back.searchParams.get("code");
  if (!code) throw new Error(`no code in ${back.href}`);
  const response = await fetch(discovery.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code, redirect_uri: TEST_WEB_REDIRECT_URI, code_verifier: verifier,
      client_id: server.clientId, client_secret: server.clientSecret,
    }),
  });
  const tokens = (await response.json()) as { access_token?: string };
  if (!tokens.access_token) throw new Error(`token exchange failed: HTTP ${response.status}`);
  return tokens.access_token;
}

export interface TestGraphClient {
  client: GraphClient;
  /** Every wait the client asked for, in milliseconds (none is slept: the clock moves instead). */
  waits: number[];
  /** Every call to the token callback, with the token it named as refused. */
  tokenRequests: Array<string | undefined>;
  clock: { ms: number };
}

/** A client for `baseUrl` whose token callback hands out `tokens` in turn (the last one repeats). */
export function testGraphClient(baseUrl: string, tokens: string[], options: { limiter?: MailboxLimiter; requestTimeoutMs?: number; startMs?: number } = {}): TestGraphClient {
  const clock = { ms: options.startMs ?? Date.now() };
  const waits: number[] = [];
  const tokenRequests: Array<string | undefined> = [];
  const client = createGraphClient({
    baseUrl,
    accessToken: async (refused) => {
      tokenRequests.push(refused);
      return tokens[Math.min(tokenRequests.length - 1, tokens.length - 1)]!;
    },
    now: () => new Date(clock.ms),
    sleep: async (ms) => {
      waits.push(ms);
      clock.ms += ms;
    },
    ...(options.limiter ? { limiter: options.limiter } : {}),
    ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
  });
  return { client, waits, tokenRequests, clock };
}

/** The notification endpoint behind a real loopback server, as Graph reaches it. */
export async function serveNotificationEndpoint(deps: NotificationEndpointDeps): Promise<{ url: string; close(): Promise<void> }> {
  const handler = graphNotificationEndpoint(deps);
  const server: Server = createServer((req, res) => {
    void handler(toWebRequest(req, ["POST"])).then((response) => sendWebResponse(res, response));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/graph/notifications`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A small RFC 5322 message. */
export function rawMessage(options: { from: string; to: string; subject: string; messageId: string; body?: string; date?: Date }): string {
  return [
    `From: ${options.from}`,
    `To: ${options.to}`,
    `Subject: ${options.subject}`,
    `Message-ID: ${options.messageId}`,
    `Date: ${(options.date ?? new Date("2026-03-09T09:00:00Z")).toUTCString()}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "",
    options.body ?? "Bonjour,\r\nvoici le devis.",
    "",
  ].join("\r\n");
}
