// The inbox sync as a hosted install runs it (ALLOW_PRIVATE_MAIL_HOSTS off): a mailbox whose
// settings point at the internal network is refused before any connection, with one message that
// tells an open port from a closed one no better than it tells anything else.

import { JOBS } from "../../lib/app/job-registry.js";
import { createServer, type Server } from "node:net";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { MAIL_HOST_REFUSED } from "../../lib/mail/mail-host-guard.js";
import { readCronStatus } from "../../lib/ops/cron-status.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { type FaultProxy, startFaultProxy } from "../support/fault-proxy.js";
import { createMailbox, insertIntegration, rawMail, type TestMailbox } from "../support/mailbox.js";
import { freePort } from "../support/ports.js";

const HOUR_MS = 3_600_000;

describe("inbox sync of a mailbox on the internal network", () => {
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let mailbox: TestMailbox;
  let dovecotFront: FaultProxy;
  let clockMs: number;
  let logLines: string[];

  beforeAll(async () => {
    mailbox = await createMailbox();
    await mailbox.appendAll([{ raw: rawMail({ subject: "Facture FAC-12" }) }]);
    // Dovecot's port, seen through a proxy that counts the connections it is asked for.
    dovecotFront = await startFaultProxy(mailbox.dovecot.port);
  });
  afterAll(async () => {
    await dovecotFront.close();
  });

  /** A hosted install; the ports under test are allowed so that only the address can refuse them. */
  const hostedEnv = (ports: number[]) => ({ ALLOW_PRIVATE_MAIL_HOSTS: "false", MAIL_ALLOWED_PORTS: ports.join(",") });
  const sync = (env: Record<string, string>) => {
    const config = testConfig(database, { LOG_LEVEL: "debug", ...env });
    return runJob(syncAllJob, {}, {
      config,
      log: createLogger("test", { level: "debug", sink: (line) => logLines.push(line) }),
      trigger: "test",
      now: () => new Date(clockMs),
    });
  };
  const integrationRow = async (id: number) =>
    (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id)))[0]!;

  it("refuses 127.0.0.1 with one message whether the port is open or closed, and never connects", async () => {
    clockMs = Date.now();
    logLines = [];
    const closedPort = await freePort();
    const open = await insertIntegration(database.db, mailbox, { port: dovecotFront.port });
    const closed = await insertIntegration(database.db, mailbox, { port: closedPort });

    const summary = await sync(hostedEnv([dovecotFront.port, closedPort]));

    expect(summary).toMatchObject({ integrations: { succeeded: 0, failed: 2 }, messagesImported: 0 });
    expect(summary.failures.map((f) => f.reason)).toEqual([MAIL_HOST_REFUSED, MAIL_HOST_REFUSED]);
    for (const { integrationId } of [open, closed]) {
      expect(await integrationRow(integrationId)).toMatchObject({ lastSyncStatus: "error", lastSyncError: MAIL_HOST_REFUSED, authFailures: 0 });
    }
    expect(dovecotFront.connections()).toBe(0);
    expect(logLines.join("\n")).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);

    // What the operator's status shows is that same message.
    const status = await readCronStatus(database.db, { config: testConfig(database), log: createLogger("test", { level: "silent" }), now: () => new Date(clockMs) }, JOBS);
    const shown = status.failingIntegrations.filter((i) => [open.integrationId, closed.integrationId].includes(i.id));
    expect(shown.map((i) => i.lastSyncError)).toEqual([MAIL_HOST_REFUSED, MAIL_HOST_REFUSED]);

    // The same mailbox on a self-hosted install (its mail server on the LAN) is reached and synced.
    clockMs += 24 * HOUR_MS;
    await database.db.update(inboxIntegrations).set({ isActive: false }).where(eq(inboxIntegrations.id, closed.integrationId));
    expect(await sync({ ALLOW_PRIVATE_MAIL_HOSTS: "true" })).toMatchObject({ integrations: { succeeded: 1, failed: 0 }, messagesImported: 1 });
    expect(dovecotFront.connections()).toBeGreaterThan(0);
  });

  it("refuses a host name that resolves to loopback (localhost) before connecting to it", async () => {
    clockMs = Date.now();
    logLines = [];
    const before = dovecotFront.connections();
    const { integrationId } = await insertIntegration(database.db, mailbox, { port: dovecotFront.port, values: { imapServer: "localhost" } });

    await sync(hostedEnv([dovecotFront.port]));

    expect(await integrationRow(integrationId)).toMatchObject({ lastSyncStatus: "error", lastSyncError: MAIL_HOST_REFUSED });
    expect(dovecotFront.connections()).toBe(before);
  });

  it("refuses a port outside MAIL_ALLOWED_PORTS with the same message, without connecting", async () => {
    clockMs = Date.now();
    logLines = [];
    const listener = await countingListener();
    try {
      const { integrationId } = await insertIntegration(database.db, mailbox, { port: listener.port });

      // Private hosts allowed, but the ports narrowed to the mail ports.
      await sync({ ALLOW_PRIVATE_MAIL_HOSTS: "true", MAIL_ALLOWED_PORTS: "143,993" });

      expect(await integrationRow(integrationId)).toMatchObject({ lastSyncStatus: "error", lastSyncError: MAIL_HOST_REFUSED });
      expect(listener.connections()).toBe(0);
    } finally {
      await listener.close();
    }
  });
});

/** A bare TCP listener on a free loopback port that only counts who connects. */
async function countingListener(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    connections: () => accepted,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
