// Finds a mailbox's SMTP server when nobody configured it, the way mail programs do: the built-in
// table of known providers, then the domain's autoconfig document (Thunderbird's format), then DNS
// SRV records (RFC 6186 / RFC 8314). Best-effort: every step is bounded in time and size, nothing is
// thrown, and no answer means "configure SMTP with the CLI".

import { Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import type { SmtpDiscoveryOptions } from "../config.js";
import { knownProviderSmtp, type SmtpEndpoint } from "./known-providers.js";
import { resolveMailHost } from "./mail-host-guard.js";

export interface DiscoveredSmtp extends SmtpEndpoint {
  /** Which step found it, and where: "provider Gmail", "autoconfig https://…", "srv _submissions._tcp.x.fr". */
  source: string;
}

/** An autoconfig document is a few kilobytes; anything much larger is not one. */
const MAX_AUTOCONFIG_BYTES = 64 * 1024;
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
/** Names that never resolve on the Internet (RFC 2606, RFC 6761): no lookup is sent for them. */
const RESERVED_TLDS = new Set(["test", "example", "invalid", "localhost", "local"]);

/** The SMTP server for `mailbox`, or undefined when no step found one. Never throws. */
export async function discoverSmtp(
  mailbox: { emailAddress: string; imapServer?: string | null },
  options: SmtpDiscoveryOptions,
): Promise<DiscoveredSmtp | undefined> {
  const known = knownProviderSmtp(mailbox);
  if (known) return { host: known.host, port: known.port, isSecure: known.isSecure, source: `provider ${known.provider}` };
  const email = mailbox.emailAddress.trim().toLowerCase();
  const domain = email.split("@").pop() ?? "";
  if (!isLookupAllowed(domain)) return undefined;
  return (await fromAutoconfig(email, domain, options)) ?? (await fromSrv(domain, options));
}

/**
 * The one place every tenant-supplied host passes before this module talks to it or hands it on
 * (the domain of an address, a host named by an autoconfig document or an SRV record). It checks the
 * form; the address guard against private networks plugs in here.
 */
function isLookupAllowed(host: string): boolean {
  const name = host.toLowerCase();
  return !isIP(name) && HOST_NAME.test(name) && !RESERVED_TLDS.has(name.split(".").pop()!);
}

async function fromAutoconfig(email: string, domain: string, options: SmtpDiscoveryOptions): Promise<DiscoveredSmtp | undefined> {
  for (const template of options.autoconfigUrls) {
    const url = template.replaceAll("{domain}", domain).replaceAll("{email}", encodeURIComponent(email));
    const document = (await isFetchAllowed(url, options)) ? await fetchBounded(url, options.timeoutMs) : undefined;
    const server = document === undefined ? undefined : parseAutoconfigSmtp(document, { email, domain });
    if (server && isLookupAllowed(server.host)) return { ...server, source: `autoconfig ${url.split("?")[0]}` };
  }
  return undefined;
}

/**
 * The address check of an autoconfig URL's host, before any request. The fetch then resolves the
 * name again; a rebinding answer in between cannot help, since the https certificate must match the
 * tenant's own domain, which no internal service holds.
 */
async function isFetchAllowed(url: string, options: SmtpDiscoveryOptions): Promise<boolean> {
  if (!options.hostPolicy) return true;
  try {
    const { hostname, port, protocol } = new URL(url);
    const policy = { isPrivateAllowed: options.hostPolicy.isPrivateAllowed, allowedPorts: "any" as const };
    await resolveMailHost(hostname, Number(port) || (protocol === "https:" ? 443 : 80), policy, { timeoutMs: options.timeoutMs });
    return true;
  } catch {
    return false;
  }
}

/** GET `url` with a deadline, no redirect and a size bound; undefined on any failure. */
async function fetchBounded(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    // A redirect could lead anywhere, including inside the network: it is not followed.
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "error", headers: { accept: "application/xml, text/xml" } });
    if (!response.ok || !response.body) return undefined;
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += chunk.byteLength;
      if (size > MAX_AUTOCONFIG_BYTES) return undefined;
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
  } catch {
    return undefined;
  }
}

/**
 * The first usable `<outgoingServer type="smtp">` of an autoconfig document (document order is the
 * provider's preference); servers without TLS (socketType "plain") are skipped. Tolerant: a
 * regular-expression reading of the few elements needed, not a full XML parser.
 */
export function parseAutoconfigSmtp(document: string, placeholders: { email: string; domain: string }): SmtpEndpoint | undefined {
  for (const [, attributes, body] of document.matchAll(/<outgoingServer\b([^>]*)>([\s\S]*?)<\/outgoingServer>/gi)) {
    if (!/\btype\s*=\s*["']smtp["']/i.test(attributes ?? "")) continue;
    const field = (name: string) => new RegExp(`<${name}>\\s*([^<]*?)\\s*</${name}>`, "i").exec(body ?? "")?.[1];
    const host = field("hostname")
      ?.replaceAll("%EMAILDOMAIN%", placeholders.domain)
      .replaceAll("%EMAILADDRESS%", placeholders.email)
      .toLowerCase();
    const port = Number(field("port"));
    const socketType = field("socketType")?.toUpperCase();
    if (!host || !Number.isInteger(port) || port < 1 || port > 65_535) continue;
    if (socketType === "SSL") return { host, port, isSecure: true };
    if (socketType === "STARTTLS") return { host, port, isSecure: false };
  }
  return undefined;
}

/**
 * RFC 6186 SRV records: `_submissions._tcp` (implicit TLS, RFC 8314) first, then `_submission._tcp`
 * (STARTTLS). Lowest priority, then highest weight. A target of "." says the service is not offered.
 */
async function fromSrv(domain: string, options: SmtpDiscoveryOptions): Promise<DiscoveredSmtp | undefined> {
  const resolver = new Resolver({ timeout: options.timeoutMs, tries: 1 });
  if (options.dnsServers?.length) resolver.setServers([...options.dnsServers]);
  for (const [service, isSecure] of [["_submissions._tcp", true], ["_submission._tcp", false]] as const) {
    const name = `${service}.${domain}`;
    const records = await resolver.resolveSrv(name).catch(() => []);
    const best = [...records].sort((a, b) => a.priority - b.priority || b.weight - a.weight)[0];
    if (!best) continue;
    const host = best.name.replace(/\.$/, "").toLowerCase();
    if (host === "" || best.port === 0) continue;
    if (isLookupAllowed(host)) return { host, port: best.port, isSecure, source: `srv ${name}` };
  }
  return undefined;
}
