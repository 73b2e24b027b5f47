// The provider's redirect back, redeemed: the `state` is checked and spent (for the browser that
// started it only), the code is exchanged with the PKCE verifier, and the consenting account's address
// is read from the provider (ID token, else userinfo). The mailbox connected is that account's own,
// or the shared mailbox the flow was started for (kept on the state's row since the start). Nothing is saved to the company's mailboxes here:
// the CLI saves at once, a browser first shows the person what is about to be connected.

import { and, eq, gt, isNull } from "drizzle-orm";
import type { Config } from "../config.js";
import { decryptSecret } from "../crypto/secret-box.js";
import type { Db } from "../db/client.js";
import { companies, type MailTransport, oauthAuthorizationRequests, type OAuthProviderName } from "../db/schema.js";
import { JobError } from "../errors.js";
import { type OAuthProvider, oauthProvider } from "./providers.js";
import { accessTokenExpiry, requestToken, type TokenResponse } from "./request-token.js";
import { stateHash } from "./start-authorization.js";

/** Why a redirect or a confirmation is refused before the provider is asked anything. */
export type AuthorizationRefusal = "no-state" | "unknown" | "expired" | "used" | "other-browser" | "denied-at-provider" | "no-code";

/** A refusal of the person's request (a `bad-input`), with the reason the pages put in words. */
export class AuthorizationRefusedError extends JobError {
  constructor(readonly refusal: AuthorizationRefusal, message: string) {
    super("bad-input", message);
    this.name = "AuthorizationRefusedError";
  }
}

/** What the provider granted: the tokens, with the access token's expiry already computed. */
export interface MailboxGrant {
  refreshToken: string;
  accessToken: string;
  accessTokenExpiresAt: Date;
}

export interface RedeemedAuthorization {
  stateHash: string;
  companyId: number;
  companyName: string;
  provider: OAuthProviderName;
  /** The mailbox to connect: the shared one the flow was started for, else the consenting account's. */
  emailAddress: string;
  /** Who consented: the account the provider named; the tokens are theirs. */
  consentingAccount: string;
  /** How the mailbox will be read and sent, as chosen when the flow started. */
  transport: MailTransport;
  grant: MailboxGrant;
}

const USERINFO_TIMEOUT_MS = 10_000;

/**
 * Redeems the redirect `callbackUrl` (with `code` and `state`, or `error`). `browserBindingHash` is
 * the hash carried by the browser's cookie, or null for the CLI's own redirect: a state started by
 * another browser (or by the CLI) is refused. The state row stays, marked redeemed, for the
 * confirmation; the caller deletes it once done.
 */
export async function redeemAuthorization(
  db: Db,
  config: Config,
  callbackUrl: URL,
  browserBindingHash: string | null,
  now: Date,
): Promise<RedeemedAuthorization> {
  const query = callbackUrl.searchParams;
  const state = query.get("state");
  if (!state) throw new AuthorizationRefusedError("no-state", "the provider's answer has no state");
  const hash = stateHash(state);
  const t = oauthAuthorizationRequests;
  const isSameBrowser = browserBindingHash === null ? isNull(t.browserBindingHash) : eq(t.browserBindingHash, browserBindingHash);
  // One statement decides: a state is redeemed once, even when the same redirect is replayed concurrently.
  const [pending] = await db
    .update(t)
    .set({ redeemedAt: now })
    .where(and(eq(t.stateHash, hash), isSameBrowser, isNull(t.redeemedAt), gt(t.expiresAt, now)))
    .returning();
  if (!pending) throw await whyNotRedeemed(db, hash, browserBindingHash);
  try {
    const refusal = query.get("error");
    if (refusal) throw new AuthorizationRefusedError("denied-at-provider", `the provider did not grant access (${refusal.slice(0, 80)})`);
    const code = query.get("code");
    if (!code) throw new AuthorizationRefusedError("no-code", "the provider's answer has no code");
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
    const consentingAccount = await mailboxAddress(provider, tokens);
    const [company] = await db.select({ name: companies.name }).from(companies).where(eq(companies.id, pending.companyId));
    if (!company) throw new AuthorizationRefusedError("unknown", `company ${pending.companyId} no longer exists`);
    return {
      stateHash: hash,
      companyId: pending.companyId,
      companyName: company.name,
      provider: pending.provider,
      emailAddress: pending.mailboxAddress ?? consentingAccount,
      consentingAccount,
      transport: pending.mailTransport ?? "imap",
      grant: { refreshToken: tokens.refreshToken, accessToken: tokens.accessToken, accessTokenExpiresAt: accessTokenExpiry(tokens, now) },
    };
  } catch (err) {
    // The code is spent or useless: the authorization cannot go on, whatever failed.
    await db.delete(t).where(eq(t.stateHash, hash));
    throw err;
  }
}

/** The reason a state was not redeemed, read after the fact (only to choose the words). */
async function whyNotRedeemed(db: Db, hash: string, browserBindingHash: string | null): Promise<AuthorizationRefusedError> {
  const t = oauthAuthorizationRequests;
  const [row] = await db.select({ binding: t.browserBindingHash, redeemedAt: t.redeemedAt }).from(t).where(eq(t.stateHash, hash));
  if (!row) return new AuthorizationRefusedError("unknown", "unknown or expired authorization: start connecting the mailbox again");
  if (row.binding !== browserBindingHash) {
    return new AuthorizationRefusedError("other-browser", "this authorization was started in another browser: start connecting the mailbox again there");
  }
  if (row.redeemedAt) return new AuthorizationRefusedError("used", "this authorization was already used: start connecting the mailbox again");
  return new AuthorizationRefusedError("expired", "unknown or expired authorization: start connecting the mailbox again");
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
