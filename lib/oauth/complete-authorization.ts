// Completes an OAuth2 connection when the provider sends the person back: the `state` is checked and
// spent, the code is exchanged (with the PKCE verifier), the mailbox address is read from the
// provider (ID token, else userinfo), and the company's integration is created or updated to log in
// with the token on the provider's IMAP and SMTP servers. The refresh token is stored encrypted like
// a password; nothing about the tokens is logged.

import { and, eq, sql } from "drizzle-orm";
import type { Config } from "../config.js";
import { decryptSecret, encryptSecret } from "../crypto/secret-box.js";
import type { Db } from "../db/client.js";
import { inboxIntegrations, INTEGRATION_TYPE_IMAP, oauthAuthorizationRequests } from "../db/schema.js";
import { JobError } from "../errors.js";
import { type OAuthProvider, oauthProvider } from "./providers.js";
import { accessTokenExpiry, requestToken, type TokenResponse } from "./request-token.js";
import { stateHash } from "./start-authorization.js";

export interface ConnectedMailbox {
  integrationId: number;
  companyId: number;
  emailAddress: string;
  isNew: boolean;
}

const USERINFO_TIMEOUT_MS = 10_000;

/**
 * Handles the redirect back from the provider (`callbackUrl` with `code` and `state`, or `error`).
 * Throws a `bad-input` JobError for an unknown, reused or expired state, or a refusal at the provider.
 */
export async function completeAuthorization(db: Db, config: Config, callbackUrl: URL, now: Date): Promise<ConnectedMailbox> {
  const query = callbackUrl.searchParams;
  const state = query.get("state");
  if (!state) throw new JobError("bad-input", "the provider's answer has no state");
  // Deleted as it is read: a state works once, even when the same redirect is replayed concurrently.
  const [pending] = await db
    .delete(oauthAuthorizationRequests)
    .where(eq(oauthAuthorizationRequests.stateHash, stateHash(state)))
    .returning();
  if (!pending || pending.expiresAt.getTime() <= now.getTime()) {
    throw new JobError("bad-input", "unknown or expired authorization: start connecting the mailbox again");
  }
  const refusal = query.get("error");
  if (refusal) throw new JobError("bad-input", `the provider did not grant access (${refusal.slice(0, 80)})`);
  const code = query.get("code");
  if (!code) throw new JobError("bad-input", "the provider's answer has no code");

  const provider = oauthProvider(config, pending.provider);
  const tokens = await requestToken(provider, {
    grant_type: "authorization_code",
    code,
    redirect_uri: pending.redirectUri,
    code_verifier: decryptSecret(pending.codeVerifier, { encryptionKey: config.encryptionKey }),
  });
  if (!tokens.refreshToken) {
    throw new JobError("permanent", `${provider.name} issued no refresh token: the app must ask for offline access`);
  }
  const emailAddress = await mailboxAddress(provider, tokens);
  return saveIntegration(db, config, provider, { companyId: pending.companyId, emailAddress, tokens, now });
}

/** The connected account's address: the ID token's `email` (or Microsoft's `preferred_username`), else userinfo. */
async function mailboxAddress(provider: OAuthProvider, tokens: TokenResponse): Promise<string> {
  // The ID token came straight from the token endpoint over TLS, so its signature need not be
  // checked to trust it (OpenID Connect Core §3.1.3.7, item 6); its audience still must be us.
  const claims = tokens.idToken ? idTokenClaims(tokens.idToken) : {};
  const audience = claims.aud;
  const isOurs = audience === provider.clientId || (Array.isArray(audience) && audience.includes(provider.clientId));
  const fromIdToken = isOurs ? addressIn(claims.email) ?? addressIn(claims.preferred_username) : undefined;
  if (fromIdToken) return fromIdToken;
  const { userinfo } = await provider.endpoints();
  if (userinfo) {
    const response = await fetch(userinfo, {
      headers: { authorization: `Bearer ${tokens.accessToken}`, accept: "application/json" },
      signal: AbortSignal.timeout(USERINFO_TIMEOUT_MS),
    }).catch((err: unknown) => {
      throw new JobError("transient", `${provider.name} userinfo unreachable`, { cause: err });
    });
    const body = response.ok ? ((await response.json().catch(() => ({}))) as Record<string, unknown>) : {};
    const fromUserinfo = addressIn(body.email);
    if (fromUserinfo) return fromUserinfo;
  }
  throw new JobError("permanent", `${provider.name} did not say which mailbox was connected (ask for the email scope)`);
}

function idTokenClaims(idToken: string): Record<string, unknown> {
  try {
    return JSON.parse(Buffer.from(idToken.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function addressIn(value: unknown): string | undefined {
  return typeof value === "string" && /^[^\s@]+@[^\s@]+$/.test(value) ? value.toLowerCase() : undefined;
}

/**
 * The company's integration for this address, created or switched to OAuth2: a reconnection keeps
 * its cursors and history. The first mailbox a company connects becomes its sending one.
 */
async function saveIntegration(
  db: Db,
  config: Config,
  provider: OAuthProvider,
  mailbox: { companyId: number; emailAddress: string; tokens: TokenResponse; now: Date },
): Promise<ConnectedMailbox> {
  const keys = { encryptionKey: config.encryptionKey };
  const { tokens, now } = mailbox;
  const login = {
    integrationType: INTEGRATION_TYPE_IMAP,
    authMethod: "oauth2" as const,
    oauthProvider: provider.name,
    oauthRefreshToken: encryptSecret(tokens.refreshToken!, keys),
    oauthAccessToken: encryptSecret(tokens.accessToken, keys),
    oauthAccessTokenExpiresAt: accessTokenExpiry(tokens, now),
    oauthRefreshLeaseUntil: null,
    oauthReconnectNeededAt: null,
    imapServer: provider.imap.host,
    imapPort: provider.imap.port,
    useSsl: provider.imap.useSsl,
    imapUsername: null,
    emailPassword: null,
    smtpServer: provider.smtp?.host ?? null,
    smtpPort: provider.smtp?.port ?? null,
    smtpUseSsl: provider.smtp?.isSecure ?? null,
    smtpUsername: null,
    smtpPassword: null,
    tlsRejectUnauthorized: provider.tlsRejectUnauthorized,
    isActive: true,
    authFailures: 0,
    nextSyncAt: null,
    updatedAt: now,
  };
  return db.transaction(async (tx) => {
    const [existing] = await tx
      .select({ id: inboxIntegrations.id })
      .from(inboxIntegrations)
      .where(and(eq(inboxIntegrations.companyId, mailbox.companyId), sql`lower(${inboxIntegrations.emailAddress}) = ${mailbox.emailAddress}`))
      .limit(1);
    if (existing) {
      await tx.update(inboxIntegrations).set(login).where(eq(inboxIntegrations.id, existing.id));
      return { integrationId: existing.id, companyId: mailbox.companyId, emailAddress: mailbox.emailAddress, isNew: false };
    }
    const [primary] = await tx
      .select({ id: inboxIntegrations.id })
      .from(inboxIntegrations)
      .where(and(eq(inboxIntegrations.companyId, mailbox.companyId), eq(inboxIntegrations.isPrimary, true), eq(inboxIntegrations.isActive, true)))
      .limit(1);
    const [inserted] = await tx
      .insert(inboxIntegrations)
      .values({ ...login, companyId: mailbox.companyId, name: mailbox.emailAddress, emailAddress: mailbox.emailAddress, isPrimary: !primary })
      .returning({ id: inboxIntegrations.id });
    return { integrationId: inserted!.id, companyId: mailbox.companyId, emailAddress: mailbox.emailAddress, isNew: true };
  });
}
