// Which addresses a tenant's mail settings may never reach: every block of IANA's IPv4 and IPv6
// Special-Purpose Address Registries (RFC 6890 and the RFCs that added to them; registries as of
// 2025-10-09), multicast, and the deprecated blocks; an IPv6 address that carries an IPv4 one
// (mapped, translated, NAT64, 6to4, Teredo, compatible) is judged by that IPv4 address, since that
// is where a translator, a relay or the kernel sends its packets.
//
// Matching uses Node's net.BlockList (prefix checks on parsed addresses, no string tricks); only the
// extraction of an embedded IPv4 is ours, since BlockList has no notion of it.

import { BlockList, isIP } from "node:net";

/** One registered block: where it is, what it is for, and the RFC that set it aside. */
interface SpecialBlock {
  network: string;
  bits: number;
  name: string;
  rfc: string;
}

/**
 * The IANA IPv4 Special-Purpose Address Registry, every entry (those marked globally reachable
 * too: anycast relays and AS112 servers are no mail server's address), then multicast.
 */
export const SPECIAL_PURPOSE_IPV4: readonly SpecialBlock[] = [
  { network: "0.0.0.0", bits: 8, name: "This network (0.0.0.0 reaches the local host on Linux)", rfc: "RFC 791 §3.2" },
  { network: "0.0.0.0", bits: 32, name: "This host on this network", rfc: "RFC 1122 §3.2.1.3" },
  { network: "10.0.0.0", bits: 8, name: "Private-Use", rfc: "RFC 1918" },
  { network: "100.64.0.0", bits: 10, name: "Shared Address Space (carrier-grade NAT; Alibaba Cloud's metadata at 100.100.100.200)", rfc: "RFC 6598" },
  { network: "127.0.0.0", bits: 8, name: "Loopback", rfc: "RFC 1122 §3.2.1.3" },
  { network: "169.254.0.0", bits: 16, name: "Link Local (most clouds' instance metadata at 169.254.169.254)", rfc: "RFC 3927" },
  { network: "172.16.0.0", bits: 12, name: "Private-Use", rfc: "RFC 1918" },
  { network: "192.0.0.0", bits: 24, name: "IETF Protocol Assignments", rfc: "RFC 6890 §2.1" },
  { network: "192.0.0.0", bits: 29, name: "IPv4 Service Continuity Prefix", rfc: "RFC 7335" },
  { network: "192.0.0.8", bits: 32, name: "IPv4 dummy address", rfc: "RFC 7600" },
  { network: "192.0.0.9", bits: 32, name: "Port Control Protocol Anycast", rfc: "RFC 7723" },
  { network: "192.0.0.10", bits: 32, name: "Traversal Using Relays around NAT Anycast", rfc: "RFC 8155" },
  { network: "192.0.0.170", bits: 32, name: "NAT64/DNS64 Discovery", rfc: "RFC 8880, RFC 7050 §2.2" },
  { network: "192.0.0.171", bits: 32, name: "NAT64/DNS64 Discovery", rfc: "RFC 8880, RFC 7050 §2.2" },
  { network: "192.0.2.0", bits: 24, name: "Documentation (TEST-NET-1)", rfc: "RFC 5737" },
  { network: "192.31.196.0", bits: 24, name: "AS112-v4", rfc: "RFC 7535" },
  { network: "192.52.193.0", bits: 24, name: "AMT", rfc: "RFC 7450" },
  { network: "192.88.99.0", bits: 24, name: "Deprecated (6to4 Relay Anycast)", rfc: "RFC 7526" },
  { network: "192.88.99.2", bits: 32, name: "6a44-relay anycast address", rfc: "RFC 6751" },
  { network: "192.168.0.0", bits: 16, name: "Private-Use", rfc: "RFC 1918" },
  { network: "192.175.48.0", bits: 24, name: "Direct Delegation AS112 Service", rfc: "RFC 7534" },
  { network: "198.18.0.0", bits: 15, name: "Benchmarking", rfc: "RFC 2544" },
  { network: "198.51.100.0", bits: 24, name: "Documentation (TEST-NET-2)", rfc: "RFC 5737" },
  { network: "203.0.113.0", bits: 24, name: "Documentation (TEST-NET-3)", rfc: "RFC 5737" },
  { network: "240.0.0.0", bits: 4, name: "Reserved", rfc: "RFC 1112 §4" },
  { network: "255.255.255.255", bits: 32, name: "Limited Broadcast", rfc: "RFC 8190, RFC 919 §7" },
  // Not in the special-purpose registry (it has its own), never a unicast server.
  { network: "224.0.0.0", bits: 4, name: "Multicast", rfc: "RFC 5771" },
];

/**
 * The IANA IPv6 Special-Purpose Address Registry, every entry but those that carry an IPv4 address
 * (IPV4_CARRIERS below), then the deprecated and multicast blocks outside it. Anything outside
 * 2000::/3, the only space IANA allocates for global unicast, is refused as well (isBlockedAddress).
 */
export const SPECIAL_PURPOSE_IPV6: readonly SpecialBlock[] = [
  { network: "::1", bits: 128, name: "Loopback Address", rfc: "RFC 4291" },
  { network: "::", bits: 128, name: "Unspecified Address", rfc: "RFC 4291" },
  // Its embedding depends on the prefix length each operator picks (RFC 6052 §2.2): refused whole.
  { network: "64:ff9b:1::", bits: 48, name: "IPv4-IPv6 Translat. (local use)", rfc: "RFC 8215" },
  { network: "100::", bits: 64, name: "Discard-Only Address Block", rfc: "RFC 6666" },
  { network: "100:0:0:1::", bits: 64, name: "Dummy IPv6 Prefix", rfc: "RFC 9780" },
  { network: "2001::", bits: 23, name: "IETF Protocol Assignments", rfc: "RFC 2928" },
  { network: "2001:1::1", bits: 128, name: "Port Control Protocol Anycast", rfc: "RFC 7723" },
  { network: "2001:1::2", bits: 128, name: "Traversal Using Relays around NAT Anycast", rfc: "RFC 8155" },
  { network: "2001:1::3", bits: 128, name: "DNS-SD Service Registration Protocol Anycast", rfc: "RFC 9665" },
  { network: "2001:2::", bits: 48, name: "Benchmarking", rfc: "RFC 5180" },
  { network: "2001:3::", bits: 32, name: "AMT", rfc: "RFC 7450" },
  { network: "2001:4:112::", bits: 48, name: "AS112-v6", rfc: "RFC 7535" },
  { network: "2001:10::", bits: 28, name: "Deprecated (previously ORCHID)", rfc: "RFC 4843" },
  { network: "2001:20::", bits: 28, name: "ORCHIDv2", rfc: "RFC 7343" },
  { network: "2001:30::", bits: 28, name: "Drone Remote ID Protocol Entity Tags (DETs) Prefix", rfc: "RFC 9374" },
  { network: "2001:db8::", bits: 32, name: "Documentation", rfc: "RFC 3849" },
  { network: "2620:4f:8000::", bits: 48, name: "Direct Delegation AS112 Service", rfc: "RFC 7534" },
  { network: "3fff::", bits: 20, name: "Documentation", rfc: "RFC 9637" },
  { network: "5f00::", bits: 16, name: "Segment Routing (SRv6) SIDs", rfc: "RFC 9602" },
  { network: "fc00::", bits: 7, name: "Unique-Local (AWS's IPv6 metadata fd00:ec2::254 among them)", rfc: "RFC 4193" },
  { network: "fe80::", bits: 10, name: "Link-Local Unicast", rfc: "RFC 4291 §2.5.6" },
  // Outside the registry:
  { network: "fec0::", bits: 10, name: "Site-Local (deprecated, still routed by some stacks)", rfc: "RFC 3879" },
  { network: "ff00::", bits: 8, name: "Multicast", rfc: "RFC 4291 §2.7" },
];

/**
 * IPv6 blocks whose addresses carry an IPv4 address, and where it sits. Checked before the blocks
 * above (Teredo lies inside 2001::/23): such an address is as good as the IPv4 one(s) it carries.
 */
export const IPV4_CARRIERS: readonly (SpecialBlock & { ipv4At: (bytes: Buffer) => string[] })[] = [
  { network: "::ffff:0:0", bits: 96, name: "IPv4-mapped Address", rfc: "RFC 4291 §2.5.5.2", ipv4At: (b) => [ipv4(b, 12)] },
  { network: "::ffff:0:0:0", bits: 96, name: "IPv4-translated Address (SIIT)", rfc: "RFC 2765 §2.1", ipv4At: (b) => [ipv4(b, 12)] },
  // ::1 and :: carry 0.0.0.1 and 0.0.0.0, refused as "this network".
  { network: "::", bits: 96, name: "IPv4-compatible Address (deprecated)", rfc: "RFC 4291 §2.5.5.1", ipv4At: (b) => [ipv4(b, 12)] },
  { network: "64:ff9b::", bits: 96, name: "IPv4-IPv6 Translat. (well-known NAT64 prefix)", rfc: "RFC 6052 §2.1", ipv4At: (b) => [ipv4(b, 12)] },
  { network: "2002::", bits: 16, name: "6to4", rfc: "RFC 3056 §2", ipv4At: (b) => [ipv4(b, 2)] },
  // The Teredo server's address, and the client's, stored inverted (every bit flipped).
  {
    network: "2001::", bits: 32, name: "TEREDO", rfc: "RFC 4380 §4",
    ipv4At: (b) => [ipv4(b, 4), ipv4(Buffer.from(b.subarray(12, 16).map((byte) => byte ^ 0xff)), 0)],
  },
];

const refused = new BlockList();
for (const { network, bits } of SPECIAL_PURPOSE_IPV4) refused.addSubnet(network, bits, "ipv4");
for (const { network, bits } of SPECIAL_PURPOSE_IPV6) refused.addSubnet(network, bits, "ipv6");

const carriers = IPV4_CARRIERS.map((carrier) => {
  const single = new BlockList();
  single.addSubnet(carrier.network, carrier.bits, "ipv6");
  return { ...carrier, block: single };
});

const globalUnicast = new BlockList();
globalUnicast.addSubnet("2000::", 3, "ipv6");

/** True when `address` (an IPv4 or IPv6 address, not a name) lies in a special-purpose block; also for anything that is no address. */
export function isBlockedAddress(address: string): boolean {
  const ip = address.replace(/%.*$/, ""); // a zone (fe80::1%eth0) is not part of the address
  const family = isIP(ip);
  if (family === 4) return refused.check(ip, "ipv4");
  if (family !== 6) return true;
  const carrier = carriers.find((c) => c.block.check(ip, "ipv6"));
  if (carrier) return carrier.ipv4At(ipv6Bytes(ip)).some((embedded) => refused.check(embedded, "ipv4"));
  return refused.check(ip, "ipv6") || !globalUnicast.check(ip, "ipv6");
}

function ipv4(bytes: Buffer, at: number): string {
  return Array.from(bytes.subarray(at, at + 4)).join(".");
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
