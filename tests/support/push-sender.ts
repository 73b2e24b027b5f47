// A local stand-in for Pub/Sub's authenticated push ("Authentication for push subscriptions"):
// it signs OIDC tokens as Google does for a push subscription's service account (RS256, a `kid`,
// `iss` https://accounts.google.com, `aud`, `azp`, `sub`, `email`, `email_verified`, `iat`, `exp`
// an hour later) with a key pair made here, and publishes the public key as a JWKS on loopback, the
// way https://www.googleapis.com/oauth2/v3/certs does; the endpoint under test is told to trust that
// address (tests only). It wraps Gmail's notification in Pub/Sub's push envelope.

import { createServer, type Server } from "node:http";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { freePort } from "./ports.js";

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>["privateKey"];

export interface PushTokenOptions {
  audience?: string;
  issuer?: string;
  email?: string;
  emailVerified?: boolean;
  issuedAt?: Date;
  expiresAt?: Date;
  /** `unknown`: a key (and kid) the JWKS does not have; `impostor`: another key under the trusted kid. */
  key?: "trusted" | "unknown" | "impostor";
}

export interface PushSender {
  jwksUrl: string;
  serviceAccountEmail: string;
  /** A token as Pub/Sub signs it for the subscription (`audience` as given, or the defaults). */
  token(options?: PushTokenOptions): Promise<string>;
  /** The same claims, unsigned (`alg: none`). */
  unsignedToken(options?: PushTokenOptions): string;
  /** Pub/Sub's push body for Gmail's notification. */
  envelope(notification: unknown): string;
  /** How many times the key set was fetched. */
  jwksFetches(): number;
  close(): Promise<void>;
}

export const PUSH_SERVICE_ACCOUNT = "gmail-push@lokario-test.iam.gserviceaccount.com";

export async function startPushSender(options: { audience: string; now?: () => Date }): Promise<PushSender> {
  const now = options.now ?? (() => new Date());
  const trusted = await keyPair("push-key-1");
  const unknown = await keyPair("push-key-2");
  const impostor = await keyPair("push-key-1");
  let fetches = 0;
  const port = await freePort();
  const server: Server = createServer((req, res) => {
    if (req.url !== "/oauth2/v3/certs") return void res.writeHead(404).end();
    fetches++;
    res.writeHead(200, { "content-type": "application/json; charset=UTF-8", "cache-control": "public, max-age=20000, must-revalidate, no-transform" });
    res.end(JSON.stringify({ keys: [trusted.publicJwk] }));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  let messageNumber = 1_000_000;

  const claimsOf = (o: PushTokenOptions) => {
    const issuedAt = o.issuedAt ?? now();
    return {
      aud: o.audience ?? options.audience,
      azp: "113774264463038321964",
      email: o.email ?? PUSH_SERVICE_ACCOUNT,
      email_verified: o.emailVerified ?? true,
      iss: o.issuer ?? "https://accounts.google.com",
      sub: "113774264463038321964",
      iat: Math.floor(issuedAt.getTime() / 1000),
      exp: Math.floor((o.expiresAt ?? new Date(issuedAt.getTime() + 3_600_000)).getTime() / 1000),
    };
  };
  return {
    jwksUrl: `http://127.0.0.1:${port}/oauth2/v3/certs`,
    serviceAccountEmail: PUSH_SERVICE_ACCOUNT,
    token: async (o = {}) => {
      const key = o.key === "unknown" ? unknown : o.key === "impostor" ? impostor : trusted;
      return new SignJWT(claimsOf(o)).setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "JWT" }).sign(key.privateKey);
    },
    unsignedToken: (o = {}) => {
      const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
      return `${part({ alg: "none", typ: "JWT" })}.${part(claimsOf(o))}.`;
    },
    envelope: (notification) => JSON.stringify({
      message: {
        data: Buffer.from(JSON.stringify(notification)).toString("base64"),
        messageId: String(messageNumber), message_id: String(messageNumber++),
        publishTime: now().toISOString(), publish_time: now().toISOString(),
      },
      subscription: "projects/lokario-test/subscriptions/gmail-push",
    }),
    jwksFetches: () => fetches,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function keyPair(kid: string): Promise<{ kid: string; privateKey: PrivateKey; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}
