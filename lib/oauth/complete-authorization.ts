// Saves an OAuth2 connection: the company's integration is created or updated to log in with the
// granted tokens on the provider's IMAP and SMTP servers, or through Microsoft Graph when that is the
// transport chosen (a person's choice: any reason the product had recorded for it is cleared). The refresh token is stored encrypted like
// a password; nothing about the tokens is logged. The CLI redeems and saves in one go
// (`completeAuthorization`); a browser goes through the confirmation first (confirm-authorization.ts).

import { and, eq, sql } from "drizzle-orm";
import type { Config } from "../config.js";
import { encryptSecret } from "../crypto/secret-box.js";
import type { Db, DbOrTx } from "../db/client.js";
import { inboxIntegrations, INTEGRATION_TYPE_IMAP, type MailTransport, oauthAuthorizationRequests, type OAuthProviderName } from "../db/schema.js";
import { oauthProvider } from "./providers.js";
import { type MailboxGrant, redeemAuthorization } from "./redeem-authorization.js";

export interface ConnectedMailbox {
  integrationId: number;
  companyId: number;
  emailAddress: string;
  /** The account whose consent the tokens carry (another member's for a shared mailbox). */
  consentingAccount: string;
  isNew: boolean;
}

/**
 * The CLI's completion: redeems its own redirect `callbackUrl` (a state it started, bound to no
 * browser) and saves the mailbox. Throws a `bad-input` JobError for an unknown, reused or expired
 * state, or a refusal at the provider.
 */
export async function completeAuthorization(db: Db, config: Config, callbackUrl: URL, now: Date): Promise<ConnectedMailbox> {
  const redeemed = await redeemAuthorization(db, config, callbackUrl, null, now);
  await db.delete(oauthAuthorizationRequests).where(eq(oauthAuthorizationRequests.stateHash, redeemed.stateHash));
  return connectMailbox(db, config, { ...redeemed, now });
}

/**
 * The company's integration for this address, created or switched to OAuth2: a reconnection keeps
 * its cursors and history, whoever consents (another member reconnecting a shared mailbox replaces
 * the consenting account). The first mailbox a company connects becomes its sending one. Only the
 * company the flow was started for is looked in: no flow reaches another company's mailbox.
 */
export async function connectMailbox(
  db: DbOrTx,
  config: Config,
  mailbox: {
    companyId: number;
    provider: OAuthProviderName;
    emailAddress: string;
    consentingAccount: string;
    transport: MailTransport;
    grant: MailboxGrant;
    now: Date;
  },
): Promise<ConnectedMailbox> {
  const provider = oauthProvider(config, mailbox.provider);
  const keys = { encryptionKey: config.encryptionKey };
  const { grant, now } = mailbox;
  const login = {
    integrationType: INTEGRATION_TYPE_IMAP,
    authMethod: "oauth2" as const,
    oauthProvider: provider.name,
    oauthRefreshToken: encryptSecret(grant.refreshToken, keys),
    oauthAccessToken: encryptSecret(grant.accessToken, keys),
    oauthAccessTokenExpiresAt: grant.accessTokenExpiresAt,
    oauthRefreshLeaseUntil: null,
    oauthReconnectNeededAt: null,
    oauthConsentingAccount: mailbox.consentingAccount,
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
    mailTransport: mailbox.transport,
    mailTransportReason: null,
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
      return { integrationId: existing.id, companyId: mailbox.companyId, emailAddress: mailbox.emailAddress, consentingAccount: mailbox.consentingAccount, isNew: false };
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
    return { integrationId: inserted!.id, companyId: mailbox.companyId, emailAddress: mailbox.emailAddress, consentingAccount: mailbox.consentingAccount, isNew: true };
  });
}
