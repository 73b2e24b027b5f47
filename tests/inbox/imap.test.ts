import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { JobError } from "../../lib/errors.js";
import { createLogger } from "../../lib/log.js";
import { type ImapSettings, withImap } from "../../lib/mail/imap.js";
import { TEST_ENCRYPTION_KEY, TEST_MAIL_HOST_POLICY } from "../support/config.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { createMailbox, type TestMailbox } from "../support/mailbox.js";
import { freePort } from "../support/ports.js";

const keys = { encryptionKey: TEST_ENCRYPTION_KEY };

describe("IMAP session (withImap) against Dovecot", () => {
  let mailbox: TestMailbox;
  let lines: string[];
  const log = () => createLogger("test", { level: "debug", sink: (line) => lines.push(line) });
  const options = (extra: Partial<Parameters<typeof withImap>[1]> = {}) => ({
    keys, connectTimeoutMs: 3_000, commandTimeoutMs: 3_000, log: log(), hostPolicy: TEST_MAIL_HOST_POLICY, ...extra,
  });
  const settings = (extra: Partial<ImapSettings> = {}): ImapSettings => ({
    id: 1,
    imapServer: "127.0.0.1",
    imapPort: mailbox.dovecot.port,
    emailAddress: mailbox.user,
    imapUsername: null,
    emailPassword: encryptSecret(mailbox.password, keys),
    useSsl: false,
    tlsRejectUnauthorized: false,
    ...extra,
  });

  beforeAll(async () => {
    mailbox = await createMailbox();
  });

  it("upgrades the plain port with STARTTLS before logging in", async () => {
    lines = [];
    const status = await withImap(settings(), options(), async ({ client }) => ({
      isEncrypted: client.secureConnection,
      exists: (await client.status("INBOX", { messages: true })) || null,
    }));
    expect(status.isEncrypted).toBe(true);
    expect(status.exists).toMatchObject({ messages: 0 });
  });

  it("connects with implicit TLS when use_ssl is set", async () => {
    lines = [];
    const isEncrypted = await withImap(settings({ useSsl: true, imapPort: mailbox.dovecot.tlsPort }), options(), async ({ client }) => client.secureConnection);
    expect(isEncrypted).toBe(true);
  });

  it("refuses a self-signed certificate unless the integration opts out", async () => {
    lines = [];
    const error = await withImap(settings({ useSsl: true, imapPort: mailbox.dovecot.tlsPort, tlsRejectUnauthorized: true }), options(), async () => "connected").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobError);
    expect((error as JobError).kind).toBe("permanent");
    expect((error as JobError).message).toMatch(/TLS|certificate/i);
  });

  it("refuses a self-signed certificate on STARTTLS too", async () => {
    lines = [];
    const error = await withImap(settings({ tlsRejectUnauthorized: true }), options(), async () => "connected").catch((e: unknown) => e);
    expect((error as JobError).kind).toBe("permanent");
  });

  it("verifies the certificate against an explicitly trusted CA", async () => {
    lines = [];
    const result = await withImap(
      settings({ useSsl: true, imapPort: mailbox.dovecot.tlsPort, tlsRejectUnauthorized: true }),
      options({ caPem: mailbox.dovecot.certPem }),
      async () => "connected",
    );
    expect(result).toBe("connected");
  });

  it("connects to the address it checked the host name as, and verifies the certificate against the name", async () => {
    lines = [];
    const trusted = { tlsRejectUnauthorized: true, imapServer: "localhost" };
    const peerOf = async ({ client }: { client: { host: string; servername: string | false; secureConnection: boolean } }) =>
      ({ host: client.host, servername: client.servername, isEncrypted: client.secureConnection });
    // Given the address, not the name: a second lookup (a DNS rebinding answer) never happens.
    const implicit = await withImap(settings({ ...trusted, useSsl: true, imapPort: mailbox.dovecot.tlsPort }), options({ caPem: mailbox.dovecot.certPem }), peerOf);
    expect(implicit).toEqual({ host: "127.0.0.1", servername: "localhost", isEncrypted: true });
    const upgraded = await withImap(settings(trusted), options({ caPem: mailbox.dovecot.certPem }), peerOf);
    expect(upgraded).toEqual({ host: "127.0.0.1", servername: "localhost", isEncrypted: true });
  });

  it("logs in with imap_username when it is set instead of the address", async () => {
    lines = [];
    const result = await withImap(settings({ emailAddress: "someone-else@example.test", imapUsername: mailbox.user }), options(), async () => "connected");
    expect(result).toBe("connected");
  });

  it("reports a wrong password as an auth failure and never logs the password", async () => {
    lines = [];
    const wrong = "not-the-password-7f3a9c";
    const error = await withImap(settings({ emailPassword: encryptSecret(wrong, keys) }), options(), async () => "connected").catch((e: unknown) => e);
    expect((error as JobError).kind).toBe("auth");
    expect((error as JobError).message).not.toContain(wrong);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join("\n")).not.toContain(wrong);
    expect(lines.join("\n")).not.toContain(mailbox.password);
  });

  it("reports a refused connection as transient", async () => {
    lines = [];
    const error = await withImap(settings({ imapPort: await freePort() }), options(), async () => "connected").catch((e: unknown) => e);
    expect((error as JobError).kind).toBe("transient");
  });

  it("reports an unknown host name as a setting that cannot work", async () => {
    lines = [];
    const error = await withImap(settings({ imapServer: "imap.invalid" }), options(), async () => "connected").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobError);
    expect(["permanent", "transient"]).toContain((error as JobError).kind);
  });

  describe("a server that goes silent", () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = await startFaultProxy(mailbox.dovecot.port);
    });
    afterAll(async () => {
      await proxy.close();
    });

    it("gives up on a missing greeting after the connect timeout, as a transient failure", async () => {
      lines = [];
      proxy.stallAfter(0);
      const startedMs = Date.now();
      const error = await withImap(settings({ imapPort: proxy.port }), options({ connectTimeoutMs: 500 }), async () => "connected").catch((e: unknown) => e);
      expect((error as JobError).kind).toBe("transient");
      expect(Date.now() - startedMs).toBeLessThan(2_500);
    });

    it("refuses to log in when STARTTLS is stripped from the capabilities (downgrade attack)", async () => {
      lines = [];
      proxy.heal();
      proxy.stripStartTls();
      const error = await withImap(settings({ imapPort: proxy.port }), options(), async () => "connected").catch((e: unknown) => e);
      proxy.heal();
      expect((error as JobError).kind).toBe("permanent");
      expect((error as JobError).message).toMatch(/STARTTLS/);
      expect(lines.join("\n")).not.toMatch(/AUTHENTICATE|LOGIN "/);
    });

    it("ends the session at once when the hard stop fires, even while the work waits", async () => {
      lines = [];
      proxy.heal();
      const controller = new AbortController();
      const startedMs = Date.now();
      const error = await withImap(settings({ imapPort: proxy.port }), options({ commandTimeoutMs: 60_000, signal: controller.signal }), async () => {
        setTimeout(() => controller.abort(), 300);
        await new Promise<void>(() => {});
      }).catch((e: unknown) => e);
      expect((error as JobError).kind).toBe("transient");
      expect((error as JobError).message).toMatch(/budget/);
      expect(Date.now() - startedMs).toBeLessThan(5_000);
    });
  });

  it("refuses to start without a server, a login or a password", async () => {
    lines = [];
    await expect(withImap(settings({ imapServer: null }), options(), async () => 1)).rejects.toMatchObject({ kind: "permanent" });
    await expect(withImap(settings({ emailAddress: null }), options(), async () => 1)).rejects.toMatchObject({ kind: "permanent" });
    await expect(withImap(settings({ emailPassword: null }), options(), async () => 1)).rejects.toMatchObject({ kind: "auth" });
  });
});
