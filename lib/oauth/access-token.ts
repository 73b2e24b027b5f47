// A fresh OAuth2 access token for an integration: the cached one while it has time left, else a new
// one from the refresh token. Refreshing is serialized across concurrent runs by a short lease
// column, because providers that rotate refresh tokens (Microsoft; oidc-provider with rotation)
// invalidate the old one on use: two runs refreshing with the same token would lose the grant.
// No transaction stays open across the HTTP call: a run claims the lease with one atomic UPDATE,
// calls the provider, writes the new tokens and frees the lease; the others re-read the row until
// the new token appears (or the lease runs out, the holder having died).
// A refused grant (`invalid_grant`) marks the integration as needing a new connection, alerts the
// company once, and is an `auth` failure: the claim skips the mailbox until it is connected again.

import { and, eq, isNull, lte, or } from "drizzle-orm";
import type { Config } from "../config.js";
import { decryptSecret, encryptSecret } from "../crypto/secret-box.js";
import type { Db } from "../db/client.js";
import { inboxIntegrations } from "../db/schema.js";
import { JobError, shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import { alertReconnectionNeeded } from "../notify/mailbox-alerts.js";
import { delegateOf } from "../mailbox-identity.js";
import { oauthProvider, scopesFor } from "./providers.js";
import { accessTokenExpiry, GrantRefusedError, requestToken, TOKEN_TIMEOUT_MS } from "./request-token.js";

export interface AccessTokenDeps {
  db: Db;
  config: Config;
  now: () => Date;
  log: Logger;
}

/**
 * A token with less than this left is refreshed first. It covers the longest run budget
 * (RUN_BUDGET_MS ≤ 15 min), so a token taken at a run's start outlives every session of that run,
 * an SMTP connection that reconnects between messages included.
 */
export const REFRESH_AHEAD_MS = 20 * 60_000;
/** Longer than one token request can take, so a live refresh is never mistaken for a dead one. */
export const REFRESH_LEASE_MS = 3 * TOKEN_TIMEOUT_MS;
/** How often a run waiting for another run's refresh reads the row again. */
const WAIT_POLL_MS = 50;

/**
 * Returns an access token for `integrationId` valid for at least REFRESH_AHEAD_MS. `refused` is a
 * token a mail server just refused (revoked early): it is not handed out again, a new one is asked for.
 */
export async function accessTokenFor(integrationId: number, deps: AccessTokenDeps, refused?: string): Promise<string> {
  const keys = { encryptionKey: deps.config.encryptionKey, legacyMasterKey: deps.config.legacyMasterKey };
  const usable = (row: TokenRow): string | undefined => {
    if (!row.oauthAccessToken || !row.oauthAccessTokenExpiresAt) return undefined;
    if (row.oauthAccessTokenExpiresAt.getTime() - deps.now().getTime() < REFRESH_AHEAD_MS) return undefined;
    const token = decryptSecret(row.oauthAccessToken, keys);
    return token === refused ? undefined : token;
  };
  // Bounded in real time: a holder that died frees the lease after REFRESH_LEASE_MS of business time.
  const giveUpAtMs = performance.now() + REFRESH_LEASE_MS + TOKEN_TIMEOUT_MS;
  for (;;) {
    const row = await readTokenRow(deps.db, integrationId);
    if (row.oauthReconnectNeededAt) throw new GrantRefusedError("the mailbox's OAuth2 authorization was refused: connect it again");
    const cached = usable(row);
    if (cached) return cached;
    const claimed = await claimRefresh(deps.db, integrationId, deps.now());
    if (claimed) {
      // Another run may have refreshed between the read and the claim: its token is as good.
      const justRefreshed = usable(claimed);
      if (justRefreshed) {
        await releaseRefresh(deps.db, integrationId);
        return justRefreshed;
      }
      return refresh(claimed, deps, keys);
    }
    if (performance.now() > giveUpAtMs) throw new JobError("transient", "another run is still refreshing the OAuth2 token");
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
}

type TokenRow = Pick<
  typeof inboxIntegrations.$inferSelect,
  | "id" | "companyId" | "name" | "emailAddress" | "authMethod" | "oauthProvider" | "oauthRefreshToken" | "oauthAccessToken"
  | "oauthAccessTokenExpiresAt" | "oauthReconnectNeededAt" | "oauthConsentingAccount" | "mailTransport"
>;

const tokenColumns = {
  id: inboxIntegrations.id,
  companyId: inboxIntegrations.companyId,
  name: inboxIntegrations.name,
  emailAddress: inboxIntegrations.emailAddress,
  authMethod: inboxIntegrations.authMethod,
  oauthProvider: inboxIntegrations.oauthProvider,
  oauthRefreshToken: inboxIntegrations.oauthRefreshToken,
  oauthAccessToken: inboxIntegrations.oauthAccessToken,
  oauthAccessTokenExpiresAt: inboxIntegrations.oauthAccessTokenExpiresAt,
  oauthReconnectNeededAt: inboxIntegrations.oauthReconnectNeededAt,
  oauthConsentingAccount: inboxIntegrations.oauthConsentingAccount,
  mailTransport: inboxIntegrations.mailTransport,
};

async function readTokenRow(db: Db, integrationId: number): Promise<TokenRow> {
  const [row] = await db.select(tokenColumns).from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
  if (!row) throw new JobError("permanent", `integration ${integrationId} does not exist`);
  if (row.authMethod !== "oauth2" || !row.oauthProvider || !row.oauthRefreshToken) {
    throw new JobError("permanent", "the integration is not connected with OAuth2");
  }
  return row;
}

/**
 * Takes the refresh lease when nobody holds it (or its holder's time ran out), in one statement:
 * of two runs, only one sees a row come back. Returns the row as it is once claimed.
 */
async function claimRefresh(db: Db, integrationId: number, now: Date): Promise<TokenRow | undefined> {
  const t = inboxIntegrations;
  const [row] = await db
    .update(t)
    .set({ oauthRefreshLeaseUntil: new Date(now.getTime() + REFRESH_LEASE_MS) })
    .where(and(eq(t.id, integrationId), isNull(t.oauthReconnectNeededAt), or(isNull(t.oauthRefreshLeaseUntil), lte(t.oauthRefreshLeaseUntil, now))))
    .returning(tokenColumns);
  return row;
}

async function releaseRefresh(db: Db, integrationId: number): Promise<void> {
  await db.update(inboxIntegrations).set({ oauthRefreshLeaseUntil: null }).where(eq(inboxIntegrations.id, integrationId));
}

/** Holding the lease: trades the refresh token for new tokens and stores them, rotated refresh token included. */
async function refresh(row: TokenRow, deps: AccessTokenDeps, keys: { encryptionKey?: string }): Promise<string> {
  const provider = oauthProvider(deps.config, row.oauthProvider!);
  const log = deps.log.with({ integrationId: row.id, provider: provider.name });
  try {
    // Microsoft issues a token for one resource, chosen by the scopes named: Outlook's for IMAP and
    // SMTP, Graph's for a mailbox on Graph ("OAuth 2.0 authorization code flow", refresh request).
    const scope: Record<string, string> = provider.isScopedRefresh ? { scope: scopesFor(provider, row.mailTransport, delegateOf(row) !== undefined).join(" ") } : {};
    const tokens = await requestToken(provider, { grant_type: "refresh_token", refresh_token: decryptSecret(row.oauthRefreshToken!, keys), ...scope });
    const receivedAt = deps.now();
    await deps.db
      .update(inboxIntegrations)
      .set({
        oauthAccessToken: encryptSecret(tokens.accessToken, keys),
        oauthAccessTokenExpiresAt: accessTokenExpiry(tokens, receivedAt),
        // A provider that does not rotate answers without one: the old one stays valid.
        ...(tokens.refreshToken ? { oauthRefreshToken: encryptSecret(tokens.refreshToken, keys) } : {}),
        oauthRefreshLeaseUntil: null,
        updatedAt: receivedAt,
      })
      .where(eq(inboxIntegrations.id, row.id));
    log.info("oauth access token refreshed", { isRotated: tokens.refreshToken !== undefined });
    return tokens.accessToken;
  } catch (err) {
    if (err instanceof GrantRefusedError) {
      await markReconnectNeeded(row, deps, shortReason(err));
      log.warn("oauth grant refused: the mailbox must be connected again");
    } else {
      await releaseRefresh(deps.db, row.id);
      log.warn("oauth token refresh failed", { reason: shortReason(err) });
    }
    throw err;
  }
}

/**
 * A shared mailbox whose server refused a freshly refreshed token of the consenting account: that
 * account no longer has access to the mailbox (its Full Access removed, or it left the company).
 * Only a new consent by a member can fix it, so it is the same "needs reconnection" as a refused grant.
 */
export async function markSharedMailboxAccessRefused(integrationId: number, deps: AccessTokenDeps, reason: string): Promise<void> {
  const row = await readTokenRow(deps.db, integrationId);
  if (row.oauthReconnectNeededAt) return;
  await markReconnectNeeded(row, deps, reason);
  deps.log.warn("shared mailbox refused the consenting account's token: the mailbox must be connected again", { integrationId });
}

/** Flags the integration (dropping the tokens that no longer work) and alerts its company once. */
async function markReconnectNeeded(row: TokenRow, deps: AccessTokenDeps, reason: string): Promise<void> {
  const now = deps.now();
  await deps.db
    .update(inboxIntegrations)
    .set({ oauthReconnectNeededAt: now, oauthAccessToken: null, oauthAccessTokenExpiresAt: null, oauthRefreshLeaseUntil: null, updatedAt: now })
    .where(eq(inboxIntegrations.id, row.id));
  await alertReconnectionNeeded(
    deps.db,
    { id: row.id, companyId: row.companyId, name: row.name, emailAddress: row.emailAddress, oauthConsentingAccount: row.oauthConsentingAccount, reason },
    { now, log: deps.log, webhookUrl: deps.config.alertWebhookUrl },
  );
}
