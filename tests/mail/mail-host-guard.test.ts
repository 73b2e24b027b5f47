// The mail host check on its own: which hosts and addresses a mailbox's settings may point at, how
// the environment sets the policy, and what the clients are handed. Nothing here opens a
// connection (public addresses are only classified, never reached: the test network is loopback).

import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, MAIL_PORTS, type MailHostPolicy } from "../../lib/config.js";
import { JobError } from "../../lib/errors.js";
import { isBlockedAddress, MAIL_HOST_REFUSED, resolveMailHost } from "../../lib/mail/mail-host-guard.js";

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
