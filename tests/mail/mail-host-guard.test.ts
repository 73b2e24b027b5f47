// The mail host check on its own: which hosts and addresses a mailbox's settings may point at, how
// the environment sets the policy, and what the clients are handed. Nothing here opens a
// connection (public addresses are only classified, never reached: the test network is loopback).

import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, MAIL_PORTS, type MailHostPolicy } from "../../lib/config.js";
import { JobError } from "../../lib/errors.js";
import { MAIL_HOST_REFUSED, resolveMailHost } from "../../lib/mail/mail-host-guard.js";
import { IPV4_CARRIERS, isBlockedAddress, SPECIAL_PURPOSE_IPV4, SPECIAL_PURPOSE_IPV6 } from "../../lib/mail/special-purpose-addresses.js";

const HOSTED: MailHostPolicy = loadConfig({}).mailHosts;
const SELF_HOSTED: MailHostPolicy = loadConfig({ ALLOW_PRIVATE_MAIL_HOSTS: "true" }).mailHosts;
const options = { timeoutMs: 5_000 };

async function refusal(promise: Promise<unknown>): Promise<JobError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(JobError);
  return err as JobError;
}

describe("mail host check", () => {
  it.each([
    ["127.0.0.1"], ["localhost"], ["0.0.0.0"], ["127.1"], ["2130706433"], ["0x7f000001"], ["0x7f.1"], ["0177.0.0.1"],
    ["169.254.169.254"], ["10.0.0.1"], ["172.16.5.4"], ["192.168.1.10"], ["100.64.0.1"], ["100.100.100.200"],
    ["192.0.0.8"], ["198.18.0.1"], ["224.0.0.1"], ["240.0.0.1"], ["255.255.255.255"],
    ["[::1]"], ["::1"], ["::"], ["::ffff:127.0.0.1"], ["::ffff:7f00:1"], ["[::ffff:169.254.169.254]"], ["::127.0.0.1"],
    ["fe80::1"], ["fd00:ec2::254"], ["fc00::1"], ["ff02::1"], ["64:ff9b::a00:1"], ["64:ff9b::7f00:1"],
    ["2002:7f00:1::"], ["2002:a9fe:a9fe::1"], ["100::1"], ["2001:db8::1"],
  ])("refuses %s with the one message, its address named nowhere", async (host) => {
    const err = await refusal(resolveMailHost(host, 993, HOSTED, options));
    expect(err.kind).toBe("permanent");
    expect(err.message).toBe(MAIL_HOST_REFUSED);
    expect(err.message).not.toMatch(/\d+\.\d+|::|localhost/);
  });

  it.each([
    ["93.184.216.34", "93.184.216.34"],
    ["8.8.8.8", "8.8.8.8"],
    ["2606:4700::1111", "2606:4700::1111"],
    ["[2606:4700::1111]", "2606:4700::1111"],
    ["::ffff:93.184.216.34", "::ffff:93.184.216.34"],
    ["2002:5db8:d822::1", "2002:5db8:d822::1"],
  ])("lets the public address %s through, to be connected to as %s", async (host, address) => {
    expect(await resolveMailHost(host, 993, HOSTED, options)).toEqual({ address });
  });

  it.each([
    ["127.0.0.1", true], ["fe80::1%lo", true], ["::ffff:10.1.2.3", true], ["64:ff9b::c0a8:101", true], ["not an address", true],
    ["93.184.216.34", false], ["2a00:1450:4007:80c::2005", false], ["64:ff9b::5db8:d822", false], ["172.32.0.1", false],
    ["100.128.0.1", false], ["169.253.255.255", false], ["223.255.255.255", false],
  ])("classifies the address %s as blocked: %s", (address, isBlocked) => {
    expect(isBlockedAddress(address)).toBe(isBlocked);
  });

  it.each([
    ["the SIIT (IPv4-translated) form of 127.0.0.1", "::ffff:0:7f00:1"],
    ["the SIIT form of the cloud metadata address", "::ffff:0:a9fe:a9fe"],
    ["a deprecated site-local address", "fec0::1"],
    ["the deprecated 6to4 relay anycast block", "192.88.99.1"],
    ["the 6a44 relay anycast address", "192.88.99.2"],
    ["a local-use NAT64 address carrying 127.0.0.1", "64:ff9b:1:7f00:1::"],
    ["a Teredo address whose client is 127.0.0.1 (stored inverted)", "2001:0:4136:e378:8000:63bf:80ff:fffe"],
    ["a Teredo address whose server is 10.0.0.1", "2001:0:a00:1::1"],
    ["an IPv4-compatible address carrying 10.0.0.1", "::a00:1"],
    ["an IPv4-mapped address written in hex", "::ffff:a9fe:a9fe"],
    ["a 6to4 address carrying 192.168.0.1", "2002:c0a8:1::1"],
    ["a NAT64 address carrying 100.100.100.200", "64:ff9b::6464:64c8"],
    ["an address outside global unicast (2000::/3)", "4000::1"],
    ["the IPv6 documentation block of RFC 9637", "3fff::1"],
    ["an SRv6 segment identifier", "5f00::1"],
    ["the dummy IPv6 prefix", "100:0:0:1::1"],
    ["an AS112 server", "192.175.48.1"],
  ])("refuses %s (%s)", (_bypass, address) => {
    expect(isBlockedAddress(address)).toBe(true);
  });

  it("refuses the first and last address of every block of the IANA special-purpose registries", () => {
    const lastOf = (network: string, bits: number, family: "ipv4" | "ipv6") => {
      const size = family === "ipv4" ? 32 : 128;
      const value = family === "ipv4"
        ? network.split(".").reduce((n, part) => (n << 8n) | BigInt(part), 0n)
        : BigInt(`0x${expandIpv6(network)}`);
      const last = value | ((1n << BigInt(size - bits)) - 1n);
      return family === "ipv4"
        ? [24n, 16n, 8n, 0n].map((shift) => String((last >> shift) & 255n)).join(".")
        : (last.toString(16).padStart(32, "0").match(/.{4}/g) ?? []).join(":");
    };
    for (const { network, bits, name } of SPECIAL_PURPOSE_IPV4) {
      expect([name, isBlockedAddress(network), isBlockedAddress(lastOf(network, bits, "ipv4"))]).toEqual([name, true, true]);
    }
    for (const { network, bits, name } of SPECIAL_PURPOSE_IPV6) {
      expect([name, isBlockedAddress(network), isBlockedAddress(lastOf(network, bits, "ipv6"))]).toEqual([name, true, true]);
    }
    // Each carrier of an IPv4 address, carrying 127.0.0.1, is refused; carrying 93.184.216.34, it is not.
    const carrying = (ipv4: string): Record<string, string> => {
      const hex = ipv4.split(".").map((p) => Number(p).toString(16).padStart(2, "0")).join("");
      const [high, low] = [hex.slice(0, 4), hex.slice(4)];
      const inverted = (Number.parseInt(hex, 16) ^ 0xffffffff) >>> 0;
      const invertedHex = inverted.toString(16).padStart(8, "0");
      return {
        "IPv4-mapped Address": `::ffff:${ipv4}`,
        "IPv4-translated Address (SIIT)": `::ffff:0:${high}:${low}`,
        "IPv4-compatible Address (deprecated)": `::${high}:${low}`,
        "IPv4-IPv6 Translat. (well-known NAT64 prefix)": `64:ff9b::${high}:${low}`,
        "6to4": `2002:${high}:${low}::1`,
        TEREDO: `2001:0:5db8:d822:8000:63bf:${invertedHex.slice(0, 4)}:${invertedHex.slice(4)}`,
      };
    };
    const [loopback, publicOne] = [carrying("127.0.0.1"), carrying("93.184.216.34")];
    for (const { name } of IPV4_CARRIERS) {
      expect([name, isBlockedAddress(loopback[name]!)]).toEqual([name, true]);
      expect([name, isBlockedAddress(publicOne[name]!)]).toEqual([name, false]);
    }
  });

  it("refuses a public address on a port that is not a mail port, with the same message and no lookup", async () => {
    for (const port of [22, 80, 443, 6379, 8080]) {
      expect((await refusal(resolveMailHost("93.184.216.34", port, HOSTED, options))).message).toBe(MAIL_HOST_REFUSED);
    }
    for (const port of [25, 143, 465, 587, 993, 2525]) {
      expect(await resolveMailHost("93.184.216.34", port, HOSTED, options)).toEqual({ address: "93.184.216.34" });
    }
  });

  it("lets loopback through on any port once private hosts are allowed, with the name kept for the certificate", async () => {
    expect(await resolveMailHost("localhost", 31_993, SELF_HOSTED, options)).toEqual({ address: "127.0.0.1", servername: "localhost" });
    expect(await resolveMailHost("127.1", 143, SELF_HOSTED, options)).toEqual({ address: "127.0.0.1" });
    expect(await resolveMailHost("[::1]", 993, SELF_HOSTED, options)).toEqual({ address: "::1" });
  });
});

describe("mail host settings", () => {
  it("allows public mail servers on the mail ports by default", () => {
    expect(loadConfig({}).mailHosts).toEqual({ isPrivateAllowed: false, allowedPorts: MAIL_PORTS });
    expect([...MAIL_PORTS].sort((a, b) => a - b)).toEqual([25, 143, 465, 587, 993, 2525]);
  });

  it("lifts the port list with ALLOW_PRIVATE_MAIL_HOSTS unless MAIL_ALLOWED_PORTS says otherwise", () => {
    expect(loadConfig({ ALLOW_PRIVATE_MAIL_HOSTS: "true" }).mailHosts).toEqual({ isPrivateAllowed: true, allowedPorts: "any" });
    expect(loadConfig({ ALLOW_PRIVATE_MAIL_HOSTS: "true", MAIL_ALLOWED_PORTS: "993" }).mailHosts.allowedPorts).toEqual([993]);
    expect(loadConfig({ MAIL_ALLOWED_PORTS: " 993, 1993 " }).mailHosts).toEqual({ isPrivateAllowed: false, allowedPorts: [993, 1993] });
    expect(loadConfig({ MAIL_ALLOWED_PORTS: "*" }).mailHosts.allowedPorts).toBe("any");
    expect(loadConfig({ MAIL_ALLOWED_PORTS: "" }).mailHosts.allowedPorts).toEqual(MAIL_PORTS);
  });

  it("refuses a MAIL_ALLOWED_PORTS that is not a list of ports", () => {
    for (const value of ["imap", "993;587", "0", "70000", "993,"]) {
      expect(() => loadConfig({ MAIL_ALLOWED_PORTS: value })).toThrow(ConfigError);
    }
  });
});

/** The 32 hex digits of an IPv6 address. */
function expandIpv6(address: string): string {
  const [head = "", tail = ""] = address.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...left, ...new Array<string>(8 - left.length - right.length).fill("0"), ...right] : left;
  return groups.map((g) => g.padStart(4, "0")).join("");
}
