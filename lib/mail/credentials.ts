// What a mailbox logs in to IMAP and SMTP with, decided in one place: its stored password (decrypted
// here), or an OAuth2 access token (SASL XOAUTH2), fresh from the provider when the cached one is
// about to expire. The shape is imapflow's `auth`; `lib/mail/smtp.ts` maps it to nodemailer's.
// A shared mailbox logs in the same way: the XOAUTH2 user is the shared address (`email_address`),
// the token the consenting member's (Microsoft's documented form for shared mailboxes).

import type { Config } from "../config.js";
import { decryptSecret, type SecretKeys } from "../crypto/secret-box.js";
import type { Db } from "../db/client.js";
import type { inboxIntegrations } from "../db/schema.js";
import { JobError, shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import { accessTokenFor, markSharedMailboxAccessRefused } from "../oauth/access-token.js";
import { GrantRefusedError } from "../oauth/request-token.js";
import { delegateOf } from "../mailbox-identity.js";
import { imapTenantRefusal, switchToGraph } from "./switch-to-graph.js";

export type MailLogin = { user: string; pass: string } | { user: string; accessToken: string };

export type CredentialFields = Pick<
  typeof inboxIntegrations.$inferSelect,
  "id" | "authMethod" | "emailAddress" | "imapUsername" | "emailPassword" | "smtpUsername" | "smtpPassword"
>;

export interface CredentialsDeps {
  db: Db;
  config: Config;
  now: () => Date;
  log: Logger;
}

/**
 * The login of `integration` for `service`. For OAuth2 the user is the mailbox address; `refused` is
 * an access token the server has just turned down, so a new one is fetched instead of reusing it.
 */
export async function credentialsFor(
  integration: CredentialFields,
  service: "imap" | "smtp",
  deps: CredentialsDeps,
  refused?: MailLogin,
): Promise<MailLogin> {
  if (integration.authMethod === "oauth2") {
    const user = integration.emailAddress?.trim();
    if (!user) throw new JobError("permanent", "no mailbox address stored for the OAuth2 login");
    const refusedToken = refused && "accessToken" in refused ? refused.accessToken : undefined;
    return { user, accessToken: await accessTokenFor(integration.id, deps, refusedToken) };
  }
  return passwordLogin(integration, service, { encryptionKey: deps.config.encryptionKey, legacyMasterKey: deps.config.legacyMasterKey });
}

/**
 * The password login: IMAP uses `imap_username` (else the address) and `email_password`; SMTP uses
 * `smtp_username` and `smtp_password`, each falling back to the IMAP one.
 */
export function passwordLogin(
  integration: Omit<CredentialFields, "id" | "authMethod" | "smtpUsername" | "smtpPassword"> & Partial<Pick<CredentialFields, "smtpUsername" | "smtpPassword">>,
  service: "imap" | "smtp",
  keys: SecretKeys,
): { user: string; pass: string } {
  const imapUser = integration.imapUsername?.trim() || integration.emailAddress?.trim() || "";
  const user = service === "smtp" ? integration.smtpUsername?.trim() || imapUser : imapUser;
  const stored = service === "smtp" ? integration.smtpPassword ?? integration.emailPassword : integration.emailPassword;
  if (!stored) throw new JobError("auth", `no ${service === "smtp" ? "SMTP" : "IMAP"} password stored`);
  return { user, pass: decryptSecret(stored, keys) };
}

/**
 * A login refused again after its OAuth2 token was renewed. For a shared mailbox this means the
 * consenting account lost access to it (the provider itself still vouches for the account), which
 * only a member's new consent can fix: the integration is marked as needing reconnection. For a
 * Microsoft mailbox of its own, IMAP refused for the tenant switches it to Microsoft Graph.
 */
export async function renewedLoginRefused(
  integration: CredentialFields & { oauthConsentingAccount: string | null },
  deps: CredentialsDeps,
  refusal: JobError,
): Promise<void> {
  if (integration.authMethod !== "oauth2" || refusal instanceof GrantRefusedError) return;
  if (delegateOf(integration)) {
    await markSharedMailboxAccessRefused(integration.id, deps, shortReason(refusal));
    return;
  }
  // The person's own Microsoft mailbox refusing a renewed token over IMAP: IMAP is off for the
  // tenant (switch-to-graph.ts; only a Microsoft mailbox still on IMAP is switched).
  const reason = imapTenantRefusal(refusal);
  if (reason) await switchToGraph(deps.db, integration.id, reason, deps);
}

/** True when a login refused by the server may succeed with a new token (an OAuth2 one, revoked early). */
export function isRenewable(login: MailLogin): boolean {
  return "accessToken" in login;
}
