// The operator's page in a real browser (Debian's Chromium driven by playwright-core): sign in,
// see the failing mailbox and the stopped cron, press "Synchroniser", read the outcome; a wrong
// secret, an expired session and a forged POST, as a browser would meet them.

import { copyFileSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { and, eq } from "drizzle-orm";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { companies, inboxIntegrations, jobRuns } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { SESSION_TTL_MS } from "../../lib/ops/page/session.js";
import { TEST_CRON_SECRET, testConfig } from "../support/config.js";
import { type TestDatabase, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";
import { type PageServer, startPageServer } from "./page-server.js";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = fileURLToPath(new URL("../../docs/operator-page.png", import.meta.url));
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

describe("operator page in a browser", () => {
  const database = useDatabase("pg");
  let server: PageServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let failingId: number;
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-page-"));

  beforeAll(async () => {
    const env = { ATTACHMENTS_DIR: attachmentsDir };
    const [company] = await database.db.insert(companies).values({ name: "Plomberie Martin" }).returning();
    const healthy = await createMailbox();
    await healthy.appendAll([{ raw: rawMail({ subject: "Devis salle de bain" }) }, { raw: rawMail({ subject: "Facture 2026-114" }) }]);
    await insertIntegration(database.db, healthy, { companyId: company!.id });
    const failing = await createMailbox();
    ({ integrationId: failingId } = await insertIntegration(database.db, failing, { companyId: company!.id, password: "not-the-password" }));
    await seedWeekOfRuns(database);
    await runJob(syncAllJob, {}, { config: testConfig(database, env), log: createLogger("test", { level: "silent" }), trigger: "test" });
    server = await startPageServer(database, env);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: "fr-FR" });
    page = await context.newPage();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const signIn = async (secret: string) => {
    await page.goto(server.url);
    await page.getByLabel("Secret des tâches").fill(secret);
    await page.getByRole("button", { name: "Se connecter" }).click();
  };

  it("rejects a wrong secret and stays on the sign-in form", async () => {
    await signIn("not-the-secret");
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("Secret incorrect");
    expect(await page.getByLabel("Secret des tâches").count()).toBe(1);
    expect((await context.cookies()).map((c) => c.name)).not.toContain("lokario_operateur");
  });

  it("signs in with the cron secret and shows the failing mailbox, its error and since when, and the stopped follow-up cron", async () => {
    await signIn(TEST_CRON_SECRET);
    const row = page.locator(`#boite-${failingId}`);
    await expect.poll(() => row.textContent()).toContain("identifiant refusé");
    expect(await row.textContent()).toContain("Le serveur refuse l'identifiant ou le mot de passe");
    expect(await row.textContent()).toContain("Détail : IMAP login refused");
    expect(await row.textContent()).toContain("depuis");
    expect(await page.getByRole("alert").first().textContent()).toContain("le cron semble arrêté");
    const session = (await context.cookies()).find((c) => c.name === "lokario_operateur");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    const shot = join(attachmentsDir, "operator-page.png");
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe("PNG");
    // The picture in docs/operating.md is refreshed on request only, so an ordinary run leaves the checkout as it was.
    if (process.env.UPDATE_SCREENSHOT === "1") copyFileSync(shot, SCREENSHOT);
  });

  it("syncs the failing mailbox when 'Synchroniser' is pressed and shows the outcome", async () => {
    const runsBefore = await database.db.$count(jobRuns, eq(jobRuns.trigger, "operator"));
    await page.locator(`#boite-${failingId}`).getByRole("button", { name: "Synchroniser" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toMatch(new RegExp(`Échec de la synchronisation de la boîte n° ${failingId} : Accès refusé.*Détail : IMAP login refused`));
    expect(await database.db.$count(jobRuns, and(eq(jobRuns.trigger, "operator"), eq(jobRuns.job, "inbox-sync")))).toBe(runsBefore + 1);
    // The outcome is shown once: a reload no longer shows it, and does not sync again.
    await page.reload();
    expect(await page.getByRole("status").count()).toBe(0);
    expect(await database.db.$count(jobRuns, eq(jobRuns.trigger, "operator"))).toBe(runsBefore + 1);
  });

  it("refuses a POST from the signed-in browser that lacks the CSRF token, and changes nothing", async () => {
    const answer = await page.request.post(server.url, { form: { action: "desactiver", integration: String(failingId) }, maxRedirects: 0 });
    expect(answer.status()).toBe(403);
    const [row] = await database.db.select({ isActive: inboxIntegrations.isActive }).from(inboxIntegrations).where(eq(inboxIntegrations.id, failingId));
    expect(row!.isActive).toBe(true);
  });

  it("sends an expired session back to the sign-in form", async () => {
    server.advance(SESSION_TTL_MS + MINUTE_MS);
    await page.reload();
    await expect.poll(() => page.getByRole("alert").textContent()).toContain("Votre session a expiré");
    expect(await page.getByLabel("Secret des tâches").count()).toBe(1);
  });
});

/**
 * A week of recorded runs, as a live deployment would have: the inbox sync every 5 minutes, as
 * scheduled, and the follow-ups every hour until three hours ago (so their cron looks down).
 */
async function seedWeekOfRuns(database: TestDatabase): Promise<void> {
  const nowMs = Date.now();
  const rows: (typeof jobRuns.$inferInsert)[] = [];
  for (let i = 1; i <= 7 * 288; i++) {
    const startedAt = new Date(nowMs - i * 5 * MINUTE_MS);
    const failed = i % 37 === 0 ? 1 : 0;
    rows.push({
      runId: `seed-sync-${i}`, job: "inbox-sync", trigger: "http", startedAt, finishedAt: startedAt, leaseUntil: startedAt, status: "success",
      summary: { durationMs: 800 + ((i * 7919) % 5000), messagesImported: (i * 31) % 9, integrations: { failed }, remaining: false },
    });
  }
  for (let h = 3; h <= 7 * 24; h++) {
    const startedAt = new Date(nowMs - h * HOUR_MS);
    rows.push({
      runId: `seed-followups-${h}`, job: "followups", trigger: "http", startedAt, finishedAt: startedAt, leaseUntil: startedAt, status: "success",
      summary: { durationMs: 300 + ((h * 613) % 2000), sent: (h * 17) % 4, failed: h % 29 === 0 ? 1 : 0, remaining: false },
    });
  }
  await database.db.insert(jobRuns).values(rows);
}
