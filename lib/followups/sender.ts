// Who sends a company's follow-ups, and through which SMTP server:
// - its own mailbox when the primary (`is_primary`, active) integration has SMTP settings, or when
//   they can be discovered from its address (lib/mail/discover-smtp.ts): From is that mailbox; it
//   logs in as `credentialsFor` says (password or OAuth2 token). An OAuth2 login is fetched only
//   when a message is about to be sent (`resolveLogin`), so deciding what is due (dry runs, the
//   status) never calls the provider;
// - otherwise the global server from the environment (SMTP_*): From is SMTP_FROM's address under
//   the company's name, and Reply-To is the company's mailbox, so answers land in its inbox.
// A company's own server is held to config.mailHosts (no internal network); the operator's is not.
// A primary mailbox read and sent through Microsoft Graph (`mail_transport` = 'graph') sends by
// Graph's sendMail instead of SMTP, from its own address (a shared mailbox's included); one read
// through the Gmail API (`gmail-api`) by `users.messages.send`.

import { and, asc, eq } from "drizzle-orm";
import type { Config } from "../config.js";
import type { Db } from "../db/client.js";
import { inboxIntegrations } from "../db/schema.js";
import { shortReason } from "../errors.js";
import { type Logger, silentLogger } from "../log.js";
import { credentialsFor, type MailLogin, passwordLogin } from "../mail/credentials.js";
import { knownSendingLimits, MICROSOFT_365_LIMITS, type SendingLimits } from "../mail/known-providers.js";
import { OPERATOR_HOST_POLICY } from "../mail/mail-host-guard.js";
import { discoverSmtpRemembered } from "../mail/remembered-smtp-discovery.js";
import type { SmtpSettings } from "../mail/smtp.js";
import type { GraphIntegration } from "../graph/integration-client.js";

/**
 * Connections to a company's own mailbox at once: one. Mail providers (OVH, Orange and the like)
 * limit the SMTP sessions one account may hold at once, and the owner's mail program and phone use
 * part of that allowance: a second session from us could get theirs refused, or ours (a 4xx, which
 * stops the mailbox for the run). Little is lost: a company's follow-ups go out one after the other
 * anyway (one batch at a time unless more than a batch is due), while many companies' mailboxes
 * send at the same time.
 */
const OWN_MAILBOX_CONNECTIONS = 1;

/** How a sender's messages leave: an SMTP account, or Microsoft Graph or the Gmail API for the integration's mailbox. */
export type SenderTransport =
  | { smtp: SmtpSettings; graph?: undefined; gmail?: undefined }
  | { graph: GraphIntegration; smtp?: undefined; gmail?: undefined }
  | { gmail: { id: number }; smtp?: undefined; graph?: undefined };

export type Sender = SenderTransport & {
  from: { name: string; address: string };
  replyTo?: string;
  /** The integration whose mailbox sends, or null for the global server. */
  integrationId: number | null;
  /** Identifies the SMTP account, so a run stops using one that is down, and its sends are counted. */
  key: string;
  /** Its provider's sending limits (known-providers.ts), or the global relay's (SMTP_MAX_PER_*); undefined: none known. */
  limits?: SendingLimits;
  /** OAuth2 mailboxes: the login, with a fresh access token, asked for just before sending. */
  resolveLogin?: () => Promise<MailLogin>;
};

type Mailbox = typeof inboxIntegrations.$inferSelect;
type DiscoveredSmtp = NonNullable<Awaited<ReturnType<typeof discoverSmtpRemembered>>>;

export type SenderResult =
  | { sender: Sender }
  | { unavailable: "no_smtp_configured" | "smtp_password_unreadable" | "mailbox_needs_reconnection"; detail?: string };

/** Resolves the sender of `companyId`'s follow-ups. */
export async function resolveSender(
  db: Db,
  config: Config,
  company: { id: number; name: string; email?: string },
  deps: { now: () => Date; log: Logger } = { now: () => new Date(), log: silentLogger },
): Promise<SenderResult> {
  const [mailbox] = await db
    .select()
    .from(inboxIntegrations)
    .where(and(eq(inboxIntegrations.companyId, company.id), eq(inboxIntegrations.isPrimary, true), eq(inboxIntegrations.isActive, true)))
    .orderBy(asc(inboxIntegrations.id))
    .limit(1);
  const displayName = company.name.replace(/[\r\n]+/g, " ").trim();
  if (mailbox?.emailAddress && mailbox.mailTransport === "graph") return graphSender(mailbox, mailbox.emailAddress, displayName);
  if (mailbox?.emailAddress && mailbox.mailTransport === "gmail-api") return gmailSender(mailbox, mailbox.emailAddress, displayName);

  // No SMTP settings stored: found the way mail programs find them (best-effort, never throws).
  const discovered = mailbox?.emailAddress && !mailbox.smtpServer && config.smtpDiscovery
    ? await discoverSmtpRemembered(db, { emailAddress: mailbox.emailAddress, imapServer: mailbox.imapServer }, config.smtpDiscovery, deps.now())
    : undefined;
  if (mailbox?.emailAddress && (mailbox.smtpServer || discovered)) {
    return ownMailboxSender(mailbox, mailbox.emailAddress, discovered, displayName, { db, config, ...deps });
  }
  return globalSender(config, displayName, mailbox?.emailAddress ?? company.email);
}

/** The company's own mailbox as its sender, with the SMTP settings stored, or else `discovered`. */
function ownMailboxSender(
  mailbox: Mailbox,
  emailAddress: string,
  discovered: DiscoveredSmtp | undefined,
  displayName: string,
  deps: { db: Db; config: Config; now: () => Date; log: Logger },
): SenderResult {
  const { config } = deps;
  const isOAuth = mailbox.authMethod === "oauth2";
  if (isOAuth && mailbox.oauthReconnectNeededAt) return { unavailable: "mailbox_needs_reconnection" };
  let login: { user: string; pass?: string } | undefined;
  try {
    const hasPassword = Boolean(mailbox.smtpPassword ?? mailbox.emailPassword);
    login = isOAuth || !hasPassword
      ? { user: mailbox.smtpUsername ?? mailbox.imapUsername ?? emailAddress }
      : passwordLogin(mailbox, "smtp", { encryptionKey: config.encryptionKey, legacyMasterKey: config.legacyMasterKey });
  } catch (err) {
    return { unavailable: "smtp_password_unreadable", detail: shortReason(err) };
  }
  const port = discovered?.port ?? mailbox.smtpPort ?? (mailbox.smtpUseSsl ? 465 : 587);
  return {
    sender: {
      smtp: {
        host: discovered?.host ?? mailbox.smtpServer!,
        port,
        isSecure: discovered?.isSecure ?? mailbox.smtpUseSsl ?? port === 465,
        user: login.user,
        password: login.pass,
        rejectUnauthorized: mailbox.tlsRejectUnauthorized,
        timeoutMs: config.smtpTimeoutMs,
        heloName: config.smtpHeloName,
        // Typed by the company: it must not reach the internal network.
        hostPolicy: config.mailHosts,
        maxConnections: OWN_MAILBOX_CONNECTIONS,
      },
      from: { name: displayName, address: emailAddress },
      integrationId: mailbox.id,
      key: `integration:${mailbox.id}`,
      limits: knownSendingLimits({ emailAddress, imapServer: mailbox.imapServer, smtpServer: discovered?.host ?? mailbox.smtpServer })?.limits,
      resolveLogin: isOAuth ? () => credentialsFor(mailbox, "smtp", deps) : undefined,
    },
  };
}

/**
 * The mailbox itself through Microsoft Graph. Its token is asked for per request by the Graph
 * client (lib/graph/integration-client.ts), so no login is resolved ahead; a mailbox waiting for a
 * new consent sends nothing until it is connected again.
 */
function graphSender(mailbox: Mailbox, emailAddress: string, displayName: string): SenderResult {
  if (mailbox.authMethod !== "oauth2" || mailbox.oauthReconnectNeededAt) return { unavailable: "mailbox_needs_reconnection" };
  return {
    sender: {
      graph: { id: mailbox.id, emailAddress, oauthConsentingAccount: mailbox.oauthConsentingAccount },
      from: { name: displayName, address: emailAddress },
      integrationId: mailbox.id,
      key: `integration:${mailbox.id}`,
      limits: MICROSOFT_365_LIMITS,
    },
  };
}

/** The mailbox itself through the Gmail API (`users.messages.send`), its token asked for per request, as for Graph. */
function gmailSender(mailbox: Mailbox, emailAddress: string, displayName: string): SenderResult {
  if (mailbox.authMethod !== "oauth2" || mailbox.oauthReconnectNeededAt) return { unavailable: "mailbox_needs_reconnection" };
  return {
    sender: {
      gmail: { id: mailbox.id },
      from: { name: displayName, address: emailAddress },
      integrationId: mailbox.id,
      key: `integration:${mailbox.id}`,
      // Google's mailbox whatever its domain: Gmail's daily quota, or Google Workspace's for a business domain.
      limits: knownSendingLimits({ emailAddress, imapServer: "imap.gmail.com" })?.limits,
    },
  };
}

/** The global server (SMTP_*) as the sender, From under the company's name, replies to `replyTo`. */
function globalSender(config: Config, displayName: string, replyTo: string | undefined): SenderResult {
  const global = config.smtp;
  const globalFrom = addressIn(global?.from) ?? addressIn(global?.user);
  if (!global || !globalFrom) return { unavailable: "no_smtp_configured" };
  return {
    sender: {
      smtp: {
        host: global.host,
        port: global.port,
        isSecure: global.isSecure,
        user: global.user,
        password: global.password,
        rejectUnauthorized: global.rejectUnauthorized,
        timeoutMs: config.smtpTimeoutMs,
        heloName: config.smtpHeloName,
        // The operator's own relay (SMTP_HOST), which may well be a Postfix on this machine.
        hostPolicy: OPERATOR_HOST_POLICY,
        // Every company without a mailbox shares this account: several connections (SMTP_MAX_CONNECTIONS).
        maxConnections: global.maxConnections,
      },
      from: { name: displayName, address: globalFrom },
      replyTo,
      integrationId: null,
      key: "global",
      limits: global.limits,
    },
  };
}

/** The address in "Name <a@b.c>" or "a@b.c", or undefined when there is none. */
function addressIn(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const inBrackets = /<([^<>\s]+@[^<>\s]+)>/.exec(value)?.[1];
  const address = inBrackets ?? value.trim();
  return /^[^\s@<>]+@[^\s@<>]+$/.test(address) ? address : undefined;
}
