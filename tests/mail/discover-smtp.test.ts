// SMTP discovery against real local peers: an HTTP server serving autoconfig documents and a DNS
// server (a UDP socket speaking dns-packet's wire format) answering SRV queries on loopback, plus
// the built-in provider table.

import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as dnsPacket from "dns-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SmtpDiscoveryOptions } from "../../lib/config.js";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { companies, inboxIntegrations } from "../../lib/db/schema.js";
import { resolveSender } from "../../lib/followups/sender.js";
import { discoverSmtp, parseAutoconfigSmtp } from "../../lib/mail/discover-smtp.js";
import { discoverSmtpRemembered, NOT_FOUND_TTL_MS } from "../../lib/mail/remembered-smtp-discovery.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { createTestDatabase } from "../support/databases.js";

/** Autoconfig documents by domain, as providers publish them (Thunderbird's format). */
const DOCUMENTS: Record<string, string> = {
  "atelier-durand.fr": `<?xml version="1.0"?><clientConfig version="1.1"><emailProvider id="atelier-durand.fr">
    <incomingServer type="imap"><hostname>imap.atelier-durand.fr</hostname><port>993</port><socketType>SSL</socketType></incomingServer>
    <outgoingServer type="smtp"><hostname>relay.%EMAILDOMAIN%</hostname><port>25</port><socketType>plain</socketType></outgoingServer>
    <outgoingServer type="smtp"><hostname>smtp.%EMAILDOMAIN%</hostname><port>587</port><socketType>STARTTLS</socketType></outgoingServer>
  </emailProvider></clientConfig>`,
};

/**
 * SRV answers by query name; "." is RFC 6186's "no such service". They go out as RFC 2782 writes
 * them, the target name uncompressed: Node 24.21+ and 26.6+ (c-ares 1.34.7) reject an SRV answer
 * whose target is a compression pointer, as the RFC forbids one there (c-ares #1190), and answer
 * EBADRESP. Public resolvers write it out in full, and so does dns-packet (it compresses no name).
 */
const SRV: Record<string, { priority: number; weight: number; port: number; target: string }[]> = {
  "_submissions._tcp.menuiserie-petit.fr": [
    { priority: 20, weight: 0, port: 465, target: "backup.menuiserie-petit.fr" },
    { priority: 10, weight: 5, port: 465, target: "smtp2.menuiserie-petit.fr" },
    { priority: 10, weight: 50, port: 465, target: "smtp.menuiserie-petit.fr" },
  ],
  "_submissions._tcp.plomberie-roux.fr": [{ priority: 0, weight: 0, port: 0, target: "." }],
  "_submission._tcp.plomberie-roux.fr": [{ priority: 0, weight: 0, port: 587, target: "mail.plomberie-roux.fr" }],
};

describe("SMTP discovery", () => {
  let http: Server;
  let dns: Socket;
  let options: SmtpDiscoveryOptions;
  const requested: string[] = [];

  beforeAll(async () => {
    http = createServer((req, res) => {
      requested.push(req.url ?? "");
      const domain = /^\/([^/]+)\//.exec(req.url ?? "")?.[1] ?? "";
      if (domain === "huge.fr") return res.end("<clientConfig>" + " ".repeat(200_000));
      const document = DOCUMENTS[domain];
      res.writeHead(document ? 200 : 404, { "content-type": "text/xml" }).end(document ?? "");
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    dns = createSocket("udp4").on("message", (query, peer) => {
      const { id, questions = [] } = dnsPacket.decode(query);
      const answers = questions.flatMap(({ name }) =>
        (SRV[name] ?? []).map((data) => ({ type: "SRV" as const, name, ttl: 60, data })));
      const response = dnsPacket.encode({ type: "response", id, flags: dnsPacket.RECURSION_DESIRED, questions, answers });
      dns.send(response, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => dns.bind(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    options = {
      timeoutMs: 2_000,
      autoconfigUrls: [`${base}/{domain}/mail/config-v1.1.xml?emailaddress={email}`, `${base}/{domain}/.well-known/autoconfig/mail/config-v1.1.xml`],
      dnsServers: [`127.0.0.1:${dns.address().port}`],
    };
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => dns.close(resolve));
    await new Promise((resolve) => http.close(resolve));
  });

  it.each([
    ["contact@orange.fr", "imap.orange.fr", "smtp.orange.fr", 465, true, "provider Orange"],
    ["compta@gmail.com", "imap.gmail.com", "smtp.gmail.com", 465, true, "provider Gmail"],
    ["devis@plomberie.fr", "ssl0.ovh.net", "ssl0.ovh.net", 465, true, "provider OVH"],
    ["devis@plomberie.fr", "outlook.office365.com", "smtp.office365.com", 587, false, "provider Microsoft 365"],
    ["devis@plomberie.fr", "cpanel42.o2switch.net", "cpanel42.o2switch.net", 465, true, "provider o2switch"],
  ])("knows %s on %s from its table, without any lookup", async (email, imapServer, host, port, isSecure, source) => {
    const before = requested.length;
    expect(await discoverSmtp({ emailAddress: email, imapServer }, options)).toEqual({ host, port, isSecure, source });
    expect(requested.length).toBe(before);
  });

  it("reads the first TLS outgoing server of the domain's autoconfig document, skipping a plain one", async () => {
    const found = await discoverSmtp({ emailAddress: "Contact@Atelier-Durand.fr", imapServer: "imap.atelier-durand.fr" }, options);
    expect(found).toMatchObject({ host: "smtp.atelier-durand.fr", port: 587, isSecure: false });
    expect(found!.source).toMatch(/^autoconfig http:\/\/127\.0\.0\.1:\d+\/atelier-durand\.fr\/mail\/config-v1\.1\.xml$/);
    expect(requested).toContain("/atelier-durand.fr/mail/config-v1.1.xml?emailaddress=contact%40atelier-durand.fr");
  });

  it("falls back to SRV records, preferring implicit TLS and the lowest priority, then the highest weight", async () => {
    expect(await discoverSmtp({ emailAddress: "atelier@menuiserie-petit.fr" }, options)).toEqual({
      host: "smtp.menuiserie-petit.fr", port: 465, isSecure: true, source: "srv _submissions._tcp.menuiserie-petit.fr",
    });
  });

  it("takes a target of \".\" as no service and goes on to STARTTLS submission", async () => {
    expect(await discoverSmtp({ emailAddress: "roux@plomberie-roux.fr" }, options)).toMatchObject({
      host: "mail.plomberie-roux.fr", port: 587, isSecure: false,
    });
  });

  it("answers nothing, without throwing, for an unknown domain, an oversized document or an unreachable server", async () => {
    expect(await discoverSmtp({ emailAddress: "x@inconnu.fr" }, options)).toBeUndefined();
    expect(await discoverSmtp({ emailAddress: "x@huge.fr" }, options)).toBeUndefined();
    const unreachable = { timeoutMs: 500, autoconfigUrls: ["http://127.0.0.1:1/{domain}"], dnsServers: ["127.0.0.1:1"] };
    expect(await discoverSmtp({ emailAddress: "x@inconnu.fr" }, unreachable)).toBeUndefined();
  });

  it("sends no lookup for names that never resolve (.test, .example) or for an IP literal", async () => {
    const before = requested.length;
    for (const email of ["a@mail.example.test", "a@example", "a@[127.0.0.1]", "a@127.0.0.1"]) {
      expect(await discoverSmtp({ emailAddress: email }, options)).toBeUndefined();
    }
    expect(requested.length).toBe(before);
  });

  it("does not fetch an autoconfig document from a tenant domain that resolves inside the network", async () => {
    const before = requested.length;
    const guarded = { ...options, hostPolicy: { isPrivateAllowed: false, allowedPorts: "any" as const } };
    const found = await discoverSmtp({ emailAddress: "contact@atelier-durand.fr" }, { ...guarded, dnsServers: ["127.0.0.1:1"] });
    expect(found).toBeUndefined();
    expect(requested.length).toBe(before);
  });

  it("asks the network once per domain: a found server and a domain with nothing are both remembered", async () => {
    const database = await createTestDatabase("pglite");
    try {
      const now = new Date("2026-11-27T09:00:00Z");
      const before = requested.length;
      const first = await discoverSmtpRemembered(database.db, { emailAddress: "compta@atelier-durand.fr" }, options, now);
      expect(first).toMatchObject({ host: "smtp.atelier-durand.fr", port: 587, isSecure: false });
      const asked = requested.length;
      expect(asked).toBeGreaterThan(before);
      // Another company of the same domain, an hour later: answered without a request.
      const second = await discoverSmtpRemembered(database.db, { emailAddress: "devis@atelier-durand.fr" }, options, new Date(now.getTime() + 3_600_000));
      expect(second).toEqual(first);
      expect(requested.length).toBe(asked);

      expect(await discoverSmtpRemembered(database.db, { emailAddress: "x@inconnu.fr" }, options, now)).toBeUndefined();
      const afterNothing = requested.length;
      expect(await discoverSmtpRemembered(database.db, { emailAddress: "y@inconnu.fr" }, options, new Date(now.getTime() + 60_000))).toBeUndefined();
      expect(requested.length).toBe(afterNothing);
      // A day later the domain is asked again: its owner may have published a record since.
      await discoverSmtpRemembered(database.db, { emailAddress: "y@inconnu.fr" }, options, new Date(now.getTime() + NOT_FOUND_TTL_MS + 1));
      expect(requested.length).toBeGreaterThan(afterNothing);
    } finally {
      await database.drop();
    }
  });

  it("parses a document with attributes in another order, single quotes and odd spacing", () => {
    const document = `<outgoingServer  type='smtp' ><socketType>ssl</socketType><port> 465 </port><hostname>
      SMTP.%EMAILDOMAIN% </hostname></outgoingServer>`;
    expect(parseAutoconfigSmtp(document, { email: "a@b.fr", domain: "b.fr" })).toEqual({ host: "smtp.b.fr", port: 465, isSecure: true });
  });

  it("gives follow-ups the company's own mailbox as sender when its SMTP settings can be found, else the global server", async () => {
    const database = await createTestDatabase("pglite");
    try {
      const [company] = await database.db.insert(companies).values({ name: "Plomberie Martin" }).returning();
      const [mailbox] = await database.db.insert(inboxIntegrations).values({
        companyId: company!.id, imapServer: "imap.orange.fr", emailAddress: "plomberie.martin@orange.fr", isPrimary: true,
        emailPassword: encryptSecret("imap-pass", { encryptionKey: TEST_ENCRYPTION_KEY }),
      }).returning();
      const config = testConfig(database, { SMTP_HOST: "smtp.global.test", SMTP_FROM: "relances@lokario.test" });
      const found = await resolveSender(database.db, config, company!);
      expect(found).toMatchObject({
        sender: { smtp: { host: "smtp.orange.fr", port: 465, isSecure: true, user: "plomberie.martin@orange.fr", password: "imap-pass" },
          from: { address: "plomberie.martin@orange.fr" }, integrationId: mailbox!.id },
      });
      const off = await resolveSender(database.db, { ...config, smtpDiscovery: undefined }, company!);
      expect(off).toMatchObject({ sender: { smtp: { host: "smtp.global.test" }, replyTo: "plomberie.martin@orange.fr", integrationId: null } });
    } finally {
      await database.drop();
    }
  });
});
