// The number of IMAP sessions a run opens on one host, learned per host (lib/inbox/host-concurrency.ts):
// it grows while the host lets sessions in, backs off when the host turns them away without any mailbox
// being marked failed, and the next run starts from what was learned. On Dovecot and a PostgreSQL
// server; each test has its own loopback address (its own host key) through a proxy with some latency,
// so the sessions of a run overlap as they do on a remote server.

import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { count, eq, inArray } from "drizzle-orm";
import { ImapFlow } from "imapflow";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { companies, imapHostConcurrency, inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { createHostSessionBounds } from "../../lib/inbox/host-concurrency.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { type DovecotServer, startDovecot } from "../support/dovecot.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { createMailboxes, insertIntegration } from "../support/mailbox.js";
import { waitFor } from "../support/ports.js";

describe("IMAP sessions per host, learned (pg)", () => {
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  const clockMs = Date.now();
  let logLines: string[] = [];
  const proxies: FaultProxy[] = [];
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-host-concurrency-"));

  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  const sync = (env: Record<string, string> = {}) => {
    logLines = [];
    return runJob(syncAllJob, {}, {
      config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir, LOG_LEVEL: "debug", RUN_BUDGET_MS: "120000", ...env }),
      log: createLogger("test", { level: "debug", sink: (line) => logLines.push(line) }),
      trigger: "test",
      now: () => new Date(clockMs),
    });
  };
  const storedBound = async (hostKey: string) =>
    (await database.db.select().from(imapHostConcurrency).where(eq(imapHostConcurrency.hostKey, hostKey)))[0];
  /** `n` empty mailboxes of the suite's Dovecot, each reached through `proxy` as the host `host`. */
  const integrationsBehind = async (n: number, host: string, proxy: FaultProxy) => {
    const ids: number[] = [];
    for (const mailbox of await createMailboxes(n)) {
      ids.push((await insertIntegration(database.db, mailbox, { port: proxy.port, values: { imapServer: host } })).integrationId);
    }
    return ids;
  };

  it("opens more sessions than SYNC_CONCURRENCY_PER_HOST on a host that lets every one in, and keeps the bound it reached", async () => {
    const host = "127.0.0.31";
    const proxy = await startFaultProxy(inject("dovecot").port, { host, latencyMs: 20 });
    proxies.push(proxy);
    await integrationsBehind(40, host, proxy);

    const summary = await sync({ SYNC_CONCURRENCY: "20", SYNC_CONCURRENCY_PER_HOST: "5" });

    expect(summary.integrations).toMatchObject({ attempted: 40, succeeded: 40, failed: 0 });
    expect(proxy.peakOpenConnections()).toBeGreaterThan(5);
    expect(proxy.peakOpenConnections()).toBeLessThanOrEqual(20);
    const stored = await storedBound(host);
    expect(stored?.sessionBound).toBeGreaterThan(5);
    expect(stored?.sessionBound).toBeLessThanOrEqual(20);
    expect(stored?.refusedAtSessions).toBeNull();
  });

  it("starts from the bound a previous run stored for the host, above or below the default", async () => {
    const wide = "127.0.0.32";
    const narrow = "127.0.0.33";
    const wideProxy = await startFaultProxy(inject("dovecot").port, { host: wide, latencyMs: 40 });
    const narrowProxy = await startFaultProxy(inject("dovecot").port, { host: narrow, latencyMs: 20 });
    proxies.push(wideProxy, narrowProxy);
    await database.db.insert(imapHostConcurrency).values([
      { hostKey: wide, sessionBound: 12, updatedAt: new Date(clockMs) },
      // A host that refused a second session an hour ago: one at a time, no growth.
      { hostKey: narrow, sessionBound: 1, refusedAtSessions: 2, refusedAt: new Date(clockMs - 3_600_000), updatedAt: new Date(clockMs) },
    ]);
    await integrationsBehind(12, wide, wideProxy);
    await integrationsBehind(6, narrow, narrowProxy);

    const summary = await sync({ SYNC_CONCURRENCY: "20", SYNC_CONCURRENCY_PER_HOST: "5" });

    expect(summary.integrations).toMatchObject({ attempted: 18, succeeded: 18, failed: 0 });
    expect(wideProxy.peakOpenConnections()).toBe(12);
    expect(narrowProxy.peakOpenConnections()).toBe(1);
    expect((await storedBound(narrow))?.sessionBound).toBe(1);
  });

  it("never keeps a bound at or above the sessions a host refused, whichever session reports the refusal", async () => {
    const host = "127.0.0.35";
    const bounds = createHostSessionBounds({
      db: database.db, now: () => new Date(clockMs), log: createLogger("test", { level: "error", sink: () => {} }),
      startBound: 8, ceiling: 20, isLearned: () => true,
    });
    await bounds.load([host]);
    const tickets = Array.from({ length: 8 }, (_, i) => bounds.started(host, i + 1));
    // The first refusal (eight open) halves the bound.
    bounds.refused(tickets[7]!, 8);
    expect(bounds.boundFor(host)).toBe(4);
    // A session of the same round refused later, with three open: that round was already answered,
    // but four would be above what the host just refused.
    bounds.refused(tickets[2]!, 3);
    expect(bounds.boundFor(host)).toBe(2);
    // Sessions let in afterwards grow it back only up to below the refusal.
    for (let round = 0; round < 5; round++) bounds.accepted(bounds.started(host, 1));
    expect(bounds.boundFor(host)).toBe(2);
    await bounds.flush();
    expect(await storedBound(host)).toMatchObject({ sessionBound: 2, refusedAtSessions: 3 });
  });

  describe("on a host that limits the sessions of one login from one address (Dovecot mail_max_userip_connections = 2)", () => {
    let limited: DovecotServer;
    const login = { user: "shared@example.test", password: "shared-pw-0123" };

    beforeAll(async () => {
      limited = await startDovecot(undefined, { maxUserIpConnections: 2 });
      const usersFile = join(limited.dir, "users");
      appendFileSync(usersFile, `${login.user}:{PLAIN}${login.password}\n`);
      // Dovecot rereads the passwd-file when its mtime changes (to the second).
      const later = new Date(Date.now() + 2_000);
      utimesSync(usersFile, later, later);
      const maildir = join(limited.dir, "mail", login.user);
      for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
      writeFileSync(join(maildir, "new", "1900000000.shared.test"), "From: a@example.test\r\nTo: shared@example.test\r\nSubject: shared\r\nMessage-ID: <shared-1@example.test>\r\nDate: Mon, 7 Dec 2026 08:00:00 +0000\r\n\r\nHello\r\n");
      execFileSync("chown", ["-R", "nobody:nogroup", join(limited.dir, "mail")]);
      await waitFor("the shared login to be accepted", async () => {
        const client = new ImapFlow({
          host: "127.0.0.1", port: limited.port, secure: false, doSTARTTLS: true, tls: { rejectUnauthorized: false },
          auth: { user: login.user, pass: login.password }, logger: false,
        });
        client.on("error", () => {});
        try {
          await client.connect();
          await client.logout();
          return true;
        } catch {
          return false;
        }
      });
    });
    afterAll(async () => {
      await limited?.stop();
    });

    it("backs off when the host turns sessions away, marks no mailbox failed, and syncs every one", async () => {
      const host = "127.0.0.34";
      const proxy = await startFaultProxy(limited.port, { host, latencyMs: 40 });
      proxies.push(proxy);
      // The same login connected by ten companies (a shared mailbox): every session counts against its limit.
      const ids: number[] = [];
      for (let i = 0; i < 10; i++) {
        const [company] = await database.db.insert(companies).values({ name: `Sharer ${i}` }).returning();
        const [row] = await database.db.insert(inboxIntegrations).values({
          companyId: company!.id, name: login.user, imapServer: host, imapPort: proxy.port, useSsl: false, tlsRejectUnauthorized: false,
          emailAddress: login.user, emailPassword: encryptSecret(login.password, { encryptionKey: TEST_ENCRYPTION_KEY }),
        }).returning();
        ids.push(row!.id);
      }

      // Pinged until nothing is left, as the platform's schedule would (a mailbox turned away too
      // often in one run is left to the next).
      const summaries = [];
      let refusalLogged = false;
      for (let ping = 0; ping < 5; ping++) {
        const summary = await sync({ SYNC_CONCURRENCY: "20", SYNC_CONCURRENCY_PER_HOST: "8" });
        summaries.push(summary);
        refusalLogged ||= logLines.some((l) => l.includes("host refused a session, bound lowered"));
        if (!summary.remaining) break;
      }

      // The host did refuse: the run started eight at once.
      expect(refusalLogged).toBe(true);
      expect(summaries.map((s) => s.integrations.failed)).toEqual(summaries.map(() => 0));
      expect(summaries.at(-1)!.remaining).toBe(false);
      expect(summaries.reduce((n, s) => n + s.integrations.succeeded, 0)).toBe(10);
      const rows = await database.db.select().from(inboxIntegrations).where(inArray(inboxIntegrations.id, ids));
      expect(rows.map((r) => [r.lastSyncStatus, r.failingSince, r.leaseOwner])).toEqual(ids.map(() => ["success", null, null]));
      expect((await database.db.select({ n: count() }).from(inboxMessages).where(inArray(inboxMessages.integrationId, ids)))[0]!.n).toBe(10);
      const stored = await storedBound(host);
      // What it keeps stays below the sessions the host refused, and below the start it was refused at.
      expect(stored?.refusedAtSessions).toBeGreaterThanOrEqual(2);
      expect(stored?.sessionBound).toBeLessThan(stored!.refusedAtSessions!);
      expect(stored?.sessionBound).toBeLessThan(8);
    });
  });
});
