// Keeps a mailbox's settings from pointing the sync or the sender at the internal network (SSRF):
// the host is resolved once here, every address it resolves to is checked against the private and
// reserved ranges, and the client is handed the checked address, so no second lookup (a DNS
// rebinding answer) can send the connection elsewhere.

import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";
import type { MailHostPolicy } from "../config.js";
import { JobError } from "../errors.js";

/**
 * The one answer for a refused server. It names neither the address the host resolved to nor
 * anything learnt about it: nothing is ever sent to a refused address, so whether a port is open
 * there cannot be told from it either.
 */
export const MAIL_HOST_REFUSED = "this mail server's address is not allowed (private or reserved network, or not a mail port)";

/** Where to connect: the checked address, and the name the server's certificate must carry. */
export interface MailTarget {
  address: string;
  /** The host name for SNI and certificate checks; absent when the host was an IP address. */
  servername?: string;
}

/** The settings an operator wrote in the environment (the global SMTP relay): not checked. */
export const OPERATOR_HOST_POLICY: MailHostPolicy = { isPrivateAllowed: true, allowedPorts: "any" };

const BLOCKED_V4: readonly (readonly [string, number])[] = [
  ["0.0.0.0", 8], // "this network"; 0.0.0.0 reaches the local host on Linux
  ["10.0.0.0", 8],
  ["100.64.0.0", 10], // carrier-grade NAT (and Alibaba Cloud's metadata at 100.100.100.200)
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, where most clouds serve instance metadata (169.254.169.254)
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.0.2.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["198.51.100.0", 24],
  ["203.0.113.0", 24],
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved, and 255.255.255.255 (broadcast)
];

const BLOCKED_V6: readonly (readonly [string, number])[] = [
  ["::", 96], // unspecified (::), loopback (::1) and the deprecated IPv4-compatible ::a.b.c.d
  ["100::", 64], // discard-only
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local, AWS's IPv6 metadata fd00:ec2::254 among them
  ["fe80::", 10], // link-local
  ["ff00::", 8], // multicast
];

/** IPv6 prefixes (first 96 or 16 bits) whose address carries an IPv4 one, reached through it. */
const EMBEDDED_V4 = [
  { prefix: "::ffff:0:0", bits: 96, at: 12 }, // IPv4-mapped
  { prefix: "64:ff9b::", bits: 96, at: 12 }, // NAT64
  { prefix: "2002::", bits: 16, at: 2 }, // 6to4
] as const;

const blocked = new BlockList();
for (const [network, bits] of BLOCKED_V4) blocked.addSubnet(network, bits, "ipv4");
for (const [network, bits] of BLOCKED_V6) blocked.addSubnet(network, bits, "ipv6");

/** True when `address` (an IPv4 or IPv6 address, not a name) lies in a private or reserved range. */
export function isBlockedAddress(address: string): boolean {
  const ip = address.replace(/%.*$/, ""); // a zone (fe80::1%eth0) is not part of the address
  const family = isIP(ip);
  if (family === 4) return blocked.check(ip, "ipv4");
  if (family !== 6) return true;
  if (blocked.check(ip, "ipv6")) return true;
  const embedded = embeddedIpv4(ip);
  return embedded !== undefined && blocked.check(embedded, "ipv4");
}

/**
 * Resolves `host` and checks it and `port` against `policy`. Returns the address to connect to, or
 * throws `JobError("permanent", MAIL_HOST_REFUSED)`. A failed lookup is thrown as it came (its
 * `code` says not found or try again), so each protocol words it as it does its own errors.
 */
export async function resolveMailHost(
  host: string,
  port: number,
  policy: MailHostPolicy,
  options: { timeoutMs: number },
): Promise<MailTarget> {
  // Ports first: a refused port costs no lookup.
  if (policy.allowedPorts !== "any" && !policy.allowedPorts.includes(port)) throw new JobError("permanent", MAIL_HOST_REFUSED);
  const name = host.trim().replace(/^\[(.*)\]$/, "$1");
  // The system resolver, as a plain connect would use: it also reads the shorthand forms of IPv4
  // (127.1, 2130706433, 0x7f.1, 0177.0.0.1) into the address they stand for.
  const addresses = (await withTimeout(lookup(name, { all: true, verbatim: true }), options.timeoutMs)).map((a) => a.address);
  // Refused when any address is: a name that also resolves inside has no business here, and the
  // order of the answers is the resolver's to change.
  if (!policy.isPrivateAllowed && (addresses.length === 0 || addresses.some(isBlockedAddress))) {
    throw new JobError("permanent", MAIL_HOST_REFUSED);
  }
  // IPv4 first: serverless platforms often have no IPv6 route out, and the connection now goes to
  // this one address only.
  const address = addresses.find((a) => isIP(a) === 4) ?? addresses[0];
  if (!address) throw new JobError("permanent", MAIL_HOST_REFUSED);
  return isIpLiteral(name) ? { address } : { address, servername: name };
}

/** The IPv4 address inside a mapped, NAT64 or 6to4 IPv6 address, if it is one. */
function embeddedIpv4(ipv6: string): string | undefined {
  const bytes = ipv6Bytes(ipv6);
  for (const { prefix, bits, at } of EMBEDDED_V4) {
    const prefixBytes = ipv6Bytes(prefix);
    if (bytes.subarray(0, bits / 8).equals(prefixBytes.subarray(0, bits / 8))) {
      return Array.from(bytes.subarray(at, at + 4)).join(".");
    }
  }
  return undefined;
}

/** The 16 bytes of a valid IPv6 address (with `::` and a dotted IPv4 tail expanded). */
function ipv6Bytes(ipv6: string): Buffer {
  const [head = "", tail] = ipv6.split("::");
  const groupsOf = (part: string): number[] => {
    if (part === "") return [];
    return part.split(":").flatMap((group) => {
      if (!group.includes(".")) return [parseInt(group, 16)];
      const [a = 0, b = 0, c = 0, d = 0] = group.split(".").map(Number);
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const left = groupsOf(head);
  const right = tail === undefined ? [] : groupsOf(tail);
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(group, i * 2));
  return bytes;
}

/** An address rather than a name: a certificate cannot be checked against it as a DNS name. */
function isIpLiteral(host: string): boolean {
  return isIP(host) !== 0 || /^(0x[0-9a-f]+|\d+)(\.(0x[0-9a-f]+|\d+)){0,3}$/i.test(host);
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("DNS lookup timed out"), { code: "EAI_AGAIN" })), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
