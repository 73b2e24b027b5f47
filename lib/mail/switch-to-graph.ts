// Microsoft 365 tenants often turn IMAP or SMTP AUTH off; Microsoft Graph then is the only way in.
// When Microsoft answers a mailbox's valid token with one of those refusals, the mailbox is switched
// to the Graph transport by itself (`mail_transport` = 'graph'), with the reason recorded as a stable
// code (`mail_transport_reason`, worded in French by MAIL_TRANSPORT_REASON_LABELS where shown):
//   SMTP  535 5.7.139 "SmtpClientAuthentication is disabled for the Tenant" (or for the mailbox),
//         535 5.7.3 "Authentication unsuccessful" ("Enable or disable SMTP AUTH in Exchange Online")
//   IMAP  "AUTHENTICATE failed" or "User is authenticated but not connected" to a token that was
//         just renewed (so valid): IMAP is off for the tenant or the mailbox ("Authenticate an IMAP,
//         POP or SMTP connection using OAuth", troubleshooting)
// Only a Microsoft OAuth2 mailbox of its own is switched: a shared mailbox answering so has lost the
// member's access, which a new consent fixes (credentials.ts), and other providers have no Graph.
// The cached access token (Outlook's) is dropped with the switch: the next Graph call refreshes one
// for Graph (access-token.ts names the transport's scopes). Should the app's consent not cover
// Graph's permissions, that refresh is refused and the mailbox asks for a new connection as usual.

import { and, eq } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { inboxIntegrations } from "../db/schema.js";
import type { Logger } from "../log.js";

/** Why the product chose Graph itself, as stored in `mail_transport_reason`. */
export type MailTransportReason = "smtp_auth_disabled_for_tenant" | "imap_disabled_for_tenant";

/** The operator's and the company's words for each reason. */
export const MAIL_TRANSPORT_REASON_LABELS: Record<MailTransportReason, string> = {
  smtp_auth_disabled_for_tenant: "Microsoft 365 refuse l'envoi par SMTP pour ce compte (SMTP AUTH désactivé) : la boîte passe par Microsoft Graph.",
  imap_disabled_for_tenant: "Microsoft 365 refuse la lecture par IMAP pour ce compte (IMAP désactivé) : la boîte passe par Microsoft Graph.",
};

/** The reason in an SMTP login refusal (nodemailer's error, or a JobError caused by one), if it is a tenant's. */
export function smtpTenantRefusal(err: unknown): MailTransportReason | undefined {
  for (let e = err as { responseCode?: unknown; response?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.responseCode === 535 && typeof e.response === "string" && /\b5\.7\.(139|3)\b/.test(e.response)) return "smtp_auth_disabled_for_tenant";
  }
  return undefined;
}

/** The reason in an IMAP login refusal (imapflow's error, or a JobError caused by one), if it is a tenant's. */
export function imapTenantRefusal(err: unknown): MailTransportReason | undefined {
  for (let e = err as { responseText?: unknown; response?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    const text = [e.responseText, e.response].filter((part) => typeof part === "string").join(" ");
    if (/AUTHENTICATE failed|User is authenticated but not connected/i.test(text)) return "imap_disabled_for_tenant";
  }
  return undefined;
}

/**
 * Switches integration `integrationId` to Graph for `reason` when it is a Microsoft OAuth2 mailbox
 * still on IMAP (one statement: two runs switching at once write it once). True when it switched.
 */
export async function switchToGraph(db: Db, integrationId: number, reason: MailTransportReason, deps: { now: () => Date; log: Logger }): Promise<boolean> {
  const t = inboxIntegrations;
  const switched = await db
    .update(t)
    .set({ mailTransport: "graph", mailTransportReason: reason, oauthAccessToken: null, oauthAccessTokenExpiresAt: null, updatedAt: deps.now() })
    .where(and(eq(t.id, integrationId), eq(t.mailTransport, "imap"), eq(t.authMethod, "oauth2"), eq(t.oauthProvider, "microsoft")))
    .returning({ id: t.id });
  if (switched.length > 0) deps.log.warn("mailbox switched to Microsoft Graph: Microsoft refuses its IMAP or SMTP login", { integrationId, reason });
  return switched.length > 0;
}
