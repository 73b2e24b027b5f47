// Keeps a mailbox's settings from pointing the sync or the sender at the internal network (SSRF):
// the host is resolved once here, every address it resolves to is checked against the special-purpose
// blocks (special-purpose-addresses.ts), and the client is handed the checked address, so no second
// lookup (a DNS rebinding answer) can send the connection elsewhere.

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { MailHostPolicy } from "../config.js";
import { JobError } from "../errors.js";
import { isBlockedAddress } from "./special-purpose-addresses.js";

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
