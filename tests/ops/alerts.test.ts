import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { inboxIntegrations, notifications } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration } from "../support/mailbox.js";
import { freePort } from "../support/ports.js";

const MINUTE_MS = 60_000;

describe("mailbox failure alerts", () => {
  const database = useDatabase("pg");
  let webhook: Server;
  let webhookUrl: string;
  const events: Record<string, unknown>[] = [];
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-alerts-"));

  beforeAll(async () => {
    webhook = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        events.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", () => resolve()));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hooks/lokario`;
  });
  afterAll(async () => {
    webhook.close();
  });

  /** One sync run at `at`, with the mailbox made due first (failures back off otherwise). */
  const syncAt = async (integrationId: number, at: Date) => {
    await database.db.update(inboxIntegrations).set({ nextSyncAt: null }).where(eq(inboxIntegrations.id, integrationId));
    return runJob(syncAllJob, { integrationId }, {
      config: testConfig(database, { ALERT_WEBHOOK_URL: webhookUrl, ATTACHMENTS_DIR: attachmentsDir, IMAP_CONNECT_TIMEOUT_MS: "2000" }),
      log: createLogger("test", { level: "silent" }),
      trigger: "test",
      now: () => at,
    });
  };
  const notificationsOf = (companyId: number) =>
    database.db.select().from(notifications).where(eq(notifications.companyId, companyId)).orderBy(notifications.id);

  it("tells the company once when the server rejects the login, and once again when it recovers", async () => {
    const mailbox = await createMailbox();
    const { companyId, integrationId } = await insertIntegration(database.db, mailbox, { password: "not-the-password" });
    const t0 = new Date("2026-11-25T09:00:00Z");
    await syncAt(integrationId, t0);
    await syncAt(integrationId, new Date(t0.getTime() + 30 * MINUTE_MS));
    expect((await notificationsOf(companyId)).map((n) => n.type)).toEqual(["inbox_sync_failing"]);

    await database.db
      .update(inboxIntegrations)
      .set({ emailPassword: encryptSecret(mailbox.password, { encryptionKey: TEST_ENCRYPTION_KEY }) })
      .where(eq(inboxIntegrations.id, integrationId));
    await syncAt(integrationId, new Date(t0.getTime() + 60 * MINUTE_MS));
    await syncAt(integrationId, new Date(t0.getTime() + 65 * MINUTE_MS));
    const sent = await notificationsOf(companyId);
    expect(sent.map((n) => n.type)).toEqual(["inbox_sync_failing", "inbox_sync_recovered"]);
    expect(sent[0]!.message).toContain("mot de passe");
    expect(JSON.stringify(sent)).not.toContain(mailbox.password);

    const mine = events.filter((e) => e.integrationId === integrationId);
    expect(mine.map((e) => e.event)).toEqual(["integration.failing", "integration.recovered"]);
    expect(mine[0]).toMatchObject({ companyId, at: t0.toISOString(), reason: expect.stringMatching(/auth/i) });
  });

  it("waits an hour before alerting on a server that cannot be reached, then says so in French, since when in the operator's zone", async () => {
    const mailbox = await createMailbox();
    const closedPort = await freePort();
    const { companyId, integrationId } = await insertIntegration(database.db, mailbox, { port: closedPort });
    const t0 = new Date("2026-11-25T09:00:00Z");
    await syncAt(integrationId, t0);
    await syncAt(integrationId, new Date(t0.getTime() + 30 * MINUTE_MS));
    expect(await notificationsOf(companyId)).toEqual([]);
    await syncAt(integrationId, new Date(t0.getTime() + 61 * MINUTE_MS));
    await syncAt(integrationId, new Date(t0.getTime() + 90 * MINUTE_MS));
    const sent = await notificationsOf(companyId);
    expect(sent.map((n) => n.type)).toEqual(["inbox_sync_failing"]);
    expect(sent[0]!.message).toContain("plus d'une heure");
    // In French, with the date on the operator's clock (Paris by default) and the server's words as the detail.
    expect(sent[0]!.message).toMatch(/depuis le 25\/11\/2026 10:00 UTC\+1\) : Panne passagère : serveur injoignable.*\. Détail : IMAP connection failed: ECONNREFUSED$/);
  });
});
