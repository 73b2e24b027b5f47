// The SMTP servers of the mail providers French small businesses use, as mail programs ship them:
// the first and only free step of SMTP discovery. A consumer provider is recognised by the
// address's domain (gmail.com, orange.fr…); a hosting provider, whose customers use their own
// domain, by the IMAP server the mailbox already uses (ssl0.ovh.net, mail.gandi.net…).
// Values from each provider's published client settings.

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
}

const SSL = (host: string): SmtpEndpoint => ({ host, port: 465, isSecure: true });
const STARTTLS = (host: string): SmtpEndpoint => ({ host, port: 587, isSecure: false });

export const KNOWN_PROVIDERS: readonly KnownProvider[] = [
  { name: "OVH", imapHosts: ["ssl0.ovh.net", "imap.mail.ovh.net", "mail.ovh.net"], smtp: SSL("ssl0.ovh.net") },
  { name: "OVH Exchange", imapHosts: [".mail.ovh.net"], smtp: { sameAsImap: true, port: 587, isSecure: false } },
  { name: "Gandi", imapHosts: ["mail.gandi.net", "access.mail.gandi.net"], smtp: SSL("mail.gandi.net") },
  { name: "IONOS", imapHosts: ["imap.ionos.fr", "imap.1and1.fr"], smtp: SSL("smtp.ionos.fr") },
  { name: "IONOS (international)", imapHosts: ["imap.ionos.com", "imap.1and1.com"], smtp: SSL("smtp.ionos.com") },
  { name: "Infomaniak", imapHosts: ["mail.infomaniak.com", "mail.infomaniak.ch"], smtp: SSL("mail.infomaniak.com") },
  { name: "o2switch", imapHosts: [".o2switch.net"], smtp: { sameAsImap: true, port: 465, isSecure: true } },
  { name: "Orange", domains: ["orange.fr", "wanadoo.fr"], imapHosts: ["imap.orange.fr"], smtp: SSL("smtp.orange.fr") },
  { name: "Free", domains: ["free.fr"], imapHosts: ["imap.free.fr"], smtp: SSL("smtp.free.fr") },
  { name: "SFR", domains: ["sfr.fr", "neuf.fr", "cegetel.net", "club-internet.fr"], imapHosts: ["imap.sfr.fr"], smtp: SSL("smtp.sfr.fr") },
  { name: "La Poste", domains: ["laposte.net"], imapHosts: ["imap.laposte.net"], smtp: SSL("smtp.laposte.net") },
  { name: "Gmail", domains: ["gmail.com", "googlemail.com"], imapHosts: ["imap.gmail.com"], smtp: SSL("smtp.gmail.com") },
  {
    name: "Outlook.com",
    domains: ["outlook.com", "outlook.fr", "hotmail.com", "hotmail.fr", "live.com", "live.fr", "msn.com"],
    imapHosts: ["imap-mail.outlook.com"],
    smtp: STARTTLS("smtp-mail.outlook.com"),
  },
  { name: "Microsoft 365", imapHosts: ["outlook.office365.com"], smtp: STARTTLS("smtp.office365.com") },
  { name: "Yahoo", domains: ["yahoo.com", "yahoo.fr", "ymail.com"], imapHosts: ["imap.mail.yahoo.com"], smtp: SSL("smtp.mail.yahoo.com") },
  { name: "iCloud", domains: ["icloud.com", "me.com", "mac.com"], imapHosts: ["imap.mail.me.com"], smtp: STARTTLS("smtp.mail.me.com") },
];

/**
 * The SMTP server of a known provider for this mailbox, or undefined. The address's domain is
 * tried first (it is certain for a consumer address), then the IMAP server's host name.
 */
export function knownProviderSmtp(mailbox: { emailAddress: string; imapServer?: string | null }): (SmtpEndpoint & { provider: string }) | undefined {
  const domain = mailbox.emailAddress.split("@").pop()!.trim().toLowerCase();
  const imapHost = mailbox.imapServer?.trim().toLowerCase() ?? "";
  const byDomain = KNOWN_PROVIDERS.find((p) => p.domains?.includes(domain));
  const byHost = KNOWN_PROVIDERS.find((p) => p.imapHosts?.some((h) => (h.startsWith(".") ? imapHost.endsWith(h) : imapHost === h)));
  const provider = byDomain ?? byHost;
  if (!provider) return undefined;
  const smtp = "sameAsImap" in provider.smtp ? { host: imapHost, port: provider.smtp.port, isSecure: provider.smtp.isSecure } : provider.smtp;
  return { ...smtp, provider: provider.name };
}
