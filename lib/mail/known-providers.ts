// The SMTP servers of the mail providers French small businesses use, as mail programs ship them:
// the first and only free step of SMTP discovery. A consumer provider is recognised by the
// address's domain (gmail.com, orange.fr…); a hosting provider, whose customers use their own
// domain, by the IMAP server the mailbox already uses (ssl0.ovh.net, mail.gandi.net…).
// Values from each provider's published client settings. Each also carries the sending limits of one
// mailbox (messages a minute, an hour, a day), from the provider's published figures where it
// publishes them, else a cautious default; a company may override them (settings.ts: `sending_limits`).

export interface SmtpEndpoint {
  host: string;
  port: number;
  /** Implicit TLS (465); false means STARTTLS (587). */
  isSecure: boolean;
}

interface KnownProvider {
  name: string;
  /** Address domains served by the provider. */
  domains?: string[];
  /** The provider's IMAP host names (exact, or a suffix starting with "."). */
  imapHosts?: string[];
  /** The SMTP server; `"same-as-imap"` for providers whose SMTP host is the IMAP host. */
  smtp: SmtpEndpoint | { sameAsImap: true; port: number; isSecure: boolean };
  /** How many messages one mailbox may send; undefined where no limit is known. */
  limits?: SendingLimits;
}

/** The most messages one sending account may send in a minute, an hour, a day (each optional). */
export interface SendingLimits {
  perMinute?: number;
  perHour?: number;
  perDay?: number;
}

/**
 * Exchange Online: 30 messages a minute and 10,000 recipients a day per mailbox (a follow-up has one
 * recipient), whether sent by SMTP AUTH or Graph (Microsoft's "Exchange Online limits").
 */
export const MICROSOFT_365_LIMITS: SendingLimits = { perMinute: 30, perDay: 10_000 };
/** Gmail: 500 messages a day for a consumer account; Google Workspace: 2,000 a day per user. */
const GMAIL_LIMITS: SendingLimits = { perDay: 500 };
const GOOGLE_WORKSPACE_LIMITS: SendingLimits = { perDay: 2_000 };
/**
 * Shared hosting (OVH's MX Plan: about 200 messages an hour per mailbox). Gandi, Orange and the
 * other hosts publish no figure: this cautious hourly cap is a default, to be raised per company.
 */
const HOSTING_LIMITS: SendingLimits = { perHour: 200 };
const UNPUBLISHED_LIMITS: SendingLimits = { perHour: 100 };

const SSL = (host: string): SmtpEndpoint => ({ host, port: 465, isSecure: true });
const STARTTLS = (host: string): SmtpEndpoint => ({ host, port: 587, isSecure: false });

export const KNOWN_PROVIDERS: readonly KnownProvider[] = [
  { name: "OVH", imapHosts: ["ssl0.ovh.net", "imap.mail.ovh.net", "mail.ovh.net"], smtp: SSL("ssl0.ovh.net"), limits: HOSTING_LIMITS },
  { name: "OVH Exchange", imapHosts: [".mail.ovh.net"], smtp: { sameAsImap: true, port: 587, isSecure: false }, limits: MICROSOFT_365_LIMITS },
  { name: "Gandi", imapHosts: ["mail.gandi.net", "access.mail.gandi.net"], smtp: SSL("mail.gandi.net"), limits: UNPUBLISHED_LIMITS },
  { name: "IONOS", imapHosts: ["imap.ionos.fr", "imap.1and1.fr"], smtp: SSL("smtp.ionos.fr") },
  { name: "IONOS (international)", imapHosts: ["imap.ionos.com", "imap.1and1.com"], smtp: SSL("smtp.ionos.com") },
  { name: "Infomaniak", imapHosts: ["mail.infomaniak.com", "mail.infomaniak.ch"], smtp: SSL("mail.infomaniak.com") },
  { name: "o2switch", imapHosts: [".o2switch.net"], smtp: { sameAsImap: true, port: 465, isSecure: true } },
  { name: "Orange", domains: ["orange.fr", "wanadoo.fr"], imapHosts: ["imap.orange.fr"], smtp: SSL("smtp.orange.fr"), limits: UNPUBLISHED_LIMITS },
  { name: "Free", domains: ["free.fr"], imapHosts: ["imap.free.fr"], smtp: SSL("smtp.free.fr") },
  { name: "SFR", domains: ["sfr.fr", "neuf.fr", "cegetel.net", "club-internet.fr"], imapHosts: ["imap.sfr.fr"], smtp: SSL("smtp.sfr.fr") },
  { name: "La Poste", domains: ["laposte.net"], imapHosts: ["imap.laposte.net"], smtp: SSL("smtp.laposte.net") },
  { name: "Gmail", domains: ["gmail.com", "googlemail.com"], imapHosts: ["imap.gmail.com"], smtp: SSL("smtp.gmail.com"), limits: GMAIL_LIMITS },
  {
    name: "Outlook.com",
    domains: ["outlook.com", "outlook.fr", "hotmail.com", "hotmail.fr", "live.com", "live.fr", "msn.com"],
    imapHosts: ["imap-mail.outlook.com"],
    smtp: STARTTLS("smtp-mail.outlook.com"),
  },
  { name: "Microsoft 365", imapHosts: ["outlook.office365.com"], smtp: STARTTLS("smtp.office365.com"), limits: MICROSOFT_365_LIMITS },
  { name: "Yahoo", domains: ["yahoo.com", "yahoo.fr", "ymail.com"], imapHosts: ["imap.mail.yahoo.com"], smtp: SSL("smtp.mail.yahoo.com") },
  { name: "iCloud", domains: ["icloud.com", "me.com", "mac.com"], imapHosts: ["imap.mail.me.com"], smtp: STARTTLS("smtp.mail.me.com") },
];

/**
 * The SMTP server of a known provider for this mailbox, or undefined. The address's domain is
 * tried first (it is certain for a consumer address), then the IMAP server's host name.
 */
export function knownProviderSmtp(mailbox: { emailAddress: string; imapServer?: string | null }): (SmtpEndpoint & { provider: string }) | undefined {
  const imapHost = mailbox.imapServer?.trim().toLowerCase() ?? "";
  const provider = knownProviderOf(mailbox);
  if (!provider) return undefined;
  const smtp = "sameAsImap" in provider.smtp ? { host: imapHost, port: provider.smtp.port, isSecure: provider.smtp.isSecure } : provider.smtp;
  return { ...smtp, provider: provider.name };
}

/** The known provider of a mailbox: by its address's domain, else its IMAP server, else its SMTP server. */
function knownProviderOf(mailbox: { emailAddress: string; imapServer?: string | null; smtpServer?: string | null }): KnownProvider | undefined {
  const domain = mailbox.emailAddress.split("@").pop()!.trim().toLowerCase();
  const hostIs = (host: string) => (h: string) => (h.startsWith(".") ? host.endsWith(h) : host === h);
  const imapHost = mailbox.imapServer?.trim().toLowerCase() ?? "";
  const smtpHost = mailbox.smtpServer?.trim().toLowerCase() ?? "";
  return KNOWN_PROVIDERS.find((p) => p.domains?.includes(domain))
    ?? KNOWN_PROVIDERS.find((p) => p.imapHosts?.some(hostIs(imapHost)))
    ?? KNOWN_PROVIDERS.find((p) => !("sameAsImap" in p.smtp) && p.smtp.host === smtpHost);
}

/**
 * The sending limits of a mailbox's provider, with the provider's name, or undefined when the
 * provider is not known. A Gmail server behind the business's own domain is Google Workspace.
 */
export function knownSendingLimits(mailbox: { emailAddress: string; imapServer?: string | null; smtpServer?: string | null }): { provider: string; limits: SendingLimits } | undefined {
  const provider = knownProviderOf(mailbox);
  if (!provider?.limits) return undefined;
  const domain = mailbox.emailAddress.split("@").pop()!.trim().toLowerCase();
  if (provider.name === "Gmail" && !provider.domains?.includes(domain)) return { provider: "Google Workspace", limits: GOOGLE_WORKSPACE_LIMITS };
  return { provider: provider.name, limits: provider.limits };
}
