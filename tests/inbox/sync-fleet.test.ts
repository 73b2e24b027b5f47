// The inbox sync over a fleet of mailboxes, on Dovecot and a PostgreSQL server: one run takes as many
// mailboxes as its budget allows, many at once but few on one IMAP host, the most overdue first, and
// an idle folder costs no UID SEARCH.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { count, eq, inArray } from "drizzle-orm";
import { afterEach, describe, expect, inject, it } from "vitest";
import { inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { createMailboxes, insertIntegration, rawMail, type TestMailbox } from "../support/mailbox.js";

const MINUTE_MS = 60_000;

describe("inbox sync of a fleet of mailboxes (pg)", () => {
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let clockMs = Date.now();
  let logLines: string[] = [];
  const proxies: FaultProxy[] = [];
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-fleet-"));

  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  const sync = (env: Record<string, string> = {}) => {
    logLines = [];
    return runJob(syncAllJob, {}, {
      config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir, LOG_LEVEL: "debug", ...env }),
      log: createLogger("test", { level: "debug", sink: (line) => logLines.push(line) }),
      trigger: "test",
      now: () => new Date(clockMs),
    });
  };
  /** Fills each mailbox with `perMailbox` messages, a few mailboxes at a time. */
  const fill = async (mailboxes: TestMailbox[], perMailbox: number) => {
    for (let i = 0; i < mailboxes.length; i += 10) {
      await Promise.all(mailboxes.slice(i, i + 10).map((m) => m.appendAll(Array.from({ length: perMailbox }, () => ({ raw: rawMail() })))));
    }
  };
  const importedBy = async (ids: number[]) =>
    (await database.db.select({ n: count() }).from(inboxMessages).where(inArray(inboxMessages.integrationId, ids)))[0]!.n;

  it("syncs sixty due mailboxes in one ping when the budget allows (no fixed count per run)", async () => {
    const mailboxes = await createMailboxes(60);
    await fill(mailboxes, 1);
    const ids = [];
    for (const mailbox of mailboxes) ids.push((await insertIntegration(database.db, mailbox)).integrationId);

    const summary = await sync({ RUN_BUDGET_MS: "120000" });

    expect(summary).toMatchObject({
      integrations: { attempted: 60, succeeded: 60, failed: 0 },
      messagesImported: 60,
      remaining: false,
    });
    expect(await importedBy(ids)).toBe(60);
    const rows = await database.db.select().from(inboxIntegrations).where(inArray(inboxIntegrations.id, ids));
    expect(rows.every((r) => r.lastSyncStatus === "success" && r.leaseOwner === null && r.nextSyncAt?.getTime() === clockMs + 5 * MINUTE_MS)).toBe(true);
  });

  it("bounds the IMAP sessions of each host on its own, from SYNC_CONCURRENCY_PER_HOST and one growth step, while using both hosts at once", async () => {
    const dovecot = inject("dovecot");
    // Two "hosts": two loopback addresses, each a proxy with some round-trip time so sessions overlap.
    const hosts = ["127.0.0.2", "127.0.0.3"];
    for (const host of hosts) proxies.push(await startFaultProxy(dovecot.port, { host, latencyMs: 30 }));
    const mailboxes = await createMailboxes(16);
    const ids = [];
    for (const [i, mailbox] of mailboxes.entries()) {
      const hostIndex = i % 2;
      ids.push((await insertIntegration(database.db, mailbox, { port: proxies[hostIndex]!.port, values: { imapServer: hosts[hostIndex]! } })).integrationId);
    }

    const summary = await sync({ SYNC_CONCURRENCY: "20", SYNC_CONCURRENCY_PER_HOST: "3", RUN_BUDGET_MS: "120000" });

    expect(summary.integrations).toMatchObject({ attempted: 16, succeeded: 16, failed: 0 });
    expect(proxies.map((p) => p.connections())).toEqual([8, 8]);
    // Three at first; after three let in, ⌈3 × 1.5⌉ = 5; the next step would need five more, and only
    // eight mailboxes are on each host (host-concurrency.ts).
    for (const proxy of proxies) {
      expect(proxy.peakOpenConnections()).toBeGreaterThanOrEqual(3);
      expect(proxy.peakOpenConnections()).toBeLessThanOrEqual(5);
    }
  });

  it("syncs the most overdue mailboxes first when a run cannot take them all, and reaches every one over the next pings", async () => {
    const mailboxes = await createMailboxes(6);
    const byOverdue: number[] = [];
    // Inserted least overdue first, so neither insertion order nor id order is the overdue order.
    for (const [i, mailbox] of mailboxes.entries()) {
      byOverdue.unshift((await insertIntegration(database.db, mailbox, { values: { nextSyncAt: new Date(clockMs - (i + 1) * 10 * MINUTE_MS) } })).integrationId);
    }
    const lastSynced = async () => {
      const rows = await database.db.select().from(inboxIntegrations).where(inArray(inboxIntegrations.id, byOverdue));
      return byOverdue.filter((id) => rows.find((r) => r.id === id)?.lastSyncAt);
    };

    // A run that can take only two mailboxes (the deprecated bound stands for a spent budget here).
    const first = await sync({ INTEGRATIONS_PER_RUN: "2", SYNC_CONCURRENCY: "1" });
    expect(first).toMatchObject({ integrations: { attempted: 2 }, remaining: true });
    expect(await lastSynced()).toEqual(byOverdue.slice(0, 2));

    clockMs += MINUTE_MS;
    expect(await sync({ INTEGRATIONS_PER_RUN: "2", SYNC_CONCURRENCY: "1" })).toMatchObject({ integrations: { attempted: 2 }, remaining: true });
    expect(await lastSynced()).toEqual(byOverdue.slice(0, 4));

    clockMs += MINUTE_MS;
    expect(await sync({ INTEGRATIONS_PER_RUN: "2", SYNC_CONCURRENCY: "1" })).toMatchObject({ integrations: { attempted: 2 } });
    expect(await lastSynced()).toEqual(byOverdue);
  });

  it("issues no UID SEARCH for a folder whose UIDNEXT shows nothing new, and searches again once mail arrives", async () => {
    const [mailbox] = await createMailboxes(1);
    await mailbox!.appendAll([{ raw: rawMail() }, { raw: rawMail() }]);
    const { integrationId } = await insertIntegration(database.db, mailbox!);
    const searches = () => logLines.filter((l) => /imapflow: .*UID SEARCH/i.test(l)).length;
    const sessions = () => logLines.filter((l) => l.includes("imap session open")).length;

    expect(await sync()).toMatchObject({ messagesImported: 2 });

    clockMs += 10 * MINUTE_MS;
    expect(await sync()).toMatchObject({ integrations: { attempted: 1, succeeded: 1 }, messagesImported: 0 });
    expect(sessions()).toBe(1);
    expect(searches()).toBe(0);

    await mailbox!.append(rawMail());
    clockMs += 10 * MINUTE_MS;
    expect(await sync()).toMatchObject({ messagesImported: 1 });
    expect(searches()).toBeGreaterThan(0);
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    expect(row).toMatchObject({ lastSyncStatus: "success", leaseOwner: null });
  });
});
