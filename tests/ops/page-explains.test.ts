// The operator's page read by an operator in a real browser (Debian's Chromium through
// playwright-core), in French and on their clock: a cron that stopped stays flagged after a
// manual run, a failed sync is a failed run, each mailbox's state says what fixes it, the
// follow-ups are counted once and SMS shown as texts, and the page works on a 390 px phone.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { and, desc, eq } from "drizzle-orm";
import { type Browser, type BrowserContext, chromium, type Locator, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clients, followupSendAttempts, inboxIntegrations, jobRuns } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { wallTimeOf } from "../../lib/followups/local-time.js";
import { createLogger } from "../../lib/log.js";
import { seedCompany, seedInvoiceFollowup, SWITCHED_ON } from "../followups/seed.js";
import { TEST_CRON_SECRET, testConfig } from "../support/config.js";
import { type TestDatabase, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";
import { freePort } from "../support/ports.js";
import { type PageServer, startPageServer } from "./page-server.js";

const CHROMIUM = "/usr/bin/chromium";
const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
const ALWAYS_OPEN = { time_zone: "Europe/Paris", business_days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "24:00" };

describe("operator page, as an operator reads it", () => {
  const database = useDatabase("pg");
  let server: PageServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let refusedId: number;
  let unreachableId: number;
  let reconnectId: number;
  let disabledId: number;
  let companyId: number;
  let smsText: string;
  let leavingId: number;
  let heldId: number;
  let healthyId: number;
  const env: Record<string, string> = {
    ATTACHMENTS_DIR: mkdtempSync(join(tmpdir(), "lokario-page-explains-")),
    // A dry run never connects: the sending settings only need to exist.
    SMTP_HOST: "127.0.0.1", SMTP_PORT: "2525", SMTP_FROM: "relances@atelier.test",
    SMS_PROVIDER: "vonage", VONAGE_API_KEY: "key", VONAGE_API_SECRET: "secret", SMS_SENDER_NAME: "ATELIER",
  };

  beforeAll(async () => {
    // Every company's window is its own here, so the next opening is the one company held by its window.
    companyId = await seedCompany(database.db, { followups: { sending_window: ALWAYS_OPEN } }, "Plomberie Martin");
    const healthy = await createMailbox();
    await healthy.appendAll([{ raw: rawMail({ subject: "Devis salle de bain" }) }]);
    ({ integrationId: healthyId } = await insertIntegration(database.db, healthy, { companyId }));
    ({ integrationId: refusedId } = await insertIntegration(database.db, await createMailbox(), { companyId, password: "not-the-password" }));
    ({ integrationId: unreachableId } = await insertIntegration(database.db, await createMailbox(), { companyId, port: await freePort() }));
    ({ integrationId: disabledId } = await insertIntegration(database.db, await createMailbox(), { companyId, values: { isActive: false } }));
    await runJob(syncAllJob, {}, { config: testConfig(database, env), log: createLogger("test", { level: "silent" }), trigger: "test" });
    // An OAuth2 mailbox whose grant Google refused, as the token refresh leaves it.
    const refusedAt = new Date(Date.now() - HOUR_MS);
    const [reconnect] = await database.db.insert(inboxIntegrations).values({
      companyId, emailAddress: "gerant@plomberie-martin.fr", imapServer: "imap.gmail.com", authMethod: "oauth2", oauthProvider: "google",
      oauthRefreshToken: "v1:unused", oauthReconnectNeededAt: refusedAt, lastSyncAt: refusedAt, lastSyncStatus: "error",
      lastSyncError: "google refused the mailbox's authorization (invalid_grant): connect it again", consecutiveFailures: 1,
      authFailures: 1, failingSince: refusedAt, nextSyncAt: new Date(refusedAt.getTime() + 30 * MINUTE_MS),
    }).returning();
    reconnectId = reconnect!.id;
    await seedFollowups();
    await seedStoppedFollowupCron(database);
    server = await startPageServer(database, env);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: "fr-FR" });
    page = await context.newPage();
    await signIn(page, server.url);
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /**
   * Follow-ups that leave now (an email, and an SMS whose text is known), and one held by its
   * company's window until the day after tomorrow: the page then also shows the next opening.
   */
  async function seedFollowups(): Promise<void> {
    const dueDate = new Date(Date.now() - 10 * DAY_MS);
    const open = { ...SWITCHED_ON, followups: { sending_window: ALWAYS_OPEN } };
    ({ followupId: leavingId } = await seedInvoiceFollowup(database.db, { settings: open, dueDate, clientName: "Jean Ouvert" }));
    const inTwoDays = wallTimeOf(new Date(Date.now() + 2 * DAY_MS), "Europe/Paris").weekday;
    const closed = { ...SWITCHED_ON, followups: { sending_window: { ...ALWAYS_OPEN, business_days: [inTwoDays], start: "08:00", end: "19:00" } } };
    ({ followupId: heldId } = await seedInvoiceFollowup(database.db, { companyId: await seedCompany(database.db, closed, "Atelier Fermé"), dueDate, clientName: "Paul Fermé" }));
    const sms = {
      ...SWITCHED_ON,
      followups: { sending_window: ALWAYS_OPEN, messages: [{ type: "Facture impayée", method: "sms", content: "Bonjour {client_name}, la facture {source_label} reste à régler." }] },
      sms: { sending_window: ALWAYS_OPEN },
    };
    const seeded = await seedInvoiceFollowup(database.db, { settings: sms, dueDate, clientName: "Marie Texto" });
    await database.db.update(clients).set({ phone: "06 12 34 56 11" }).where(eq(clients.id, seeded.clientId));
    smsText = `Bonjour Marie Texto, la facture Facture ${seeded.invoiceNumber} reste à régler.`;
    // A send the recipient's server refused for good.
    await database.db.insert(followupSendAttempts).values({
      followupId: seeded.followupId, companyId: seeded.companyId, step: 9, state: "failed", messageId: "<refused@atelier.test>",
      recipient: "ancien@client.test", subject: "Relance", error: "SMTP 550 5.1.1 <ancien@client.test>: user unknown",
      leaseUntil: new Date(), startedAt: new Date(Date.now() - DAY_MS), finishedAt: new Date(Date.now() - DAY_MS),
    });
  }

  const row = (id: number): Locator => page.locator(`#boite-${id}`);
  const jobSection = (name: string): Locator => page.locator(`section[aria-labelledby="job-${name}"]`);

  it("keeps the 'cron seems stopped' warning after a simulation, and shows that manual run apart", async () => {
    await expect.poll(() => jobSection("followups").getByRole("alert").textContent()).toContain("le cron semble arrêté");
    await jobSection("followups").getByRole("button", { name: /Simuler un passage/ }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain("Simulation");
    expect(await jobSection("followups").getByRole("alert").textContent()).toContain("le cron semble arrêté");
    const text = await jobSection("followups").textContent();
    expect(text).toContain("Dernier passage lancé à la main");
    expect(text).toContain("bouton de cette page");
  });

  it("says the simulation's emails and texts apart, in French, and shows an SMS by its text", async () => {
    await page.goto(server.url);
    await jobSection("followups").getByRole("button", { name: /Simuler un passage/ }).click();
    const flash = (await page.getByRole("status").textContent())!;
    expect(flash).toContain("1 e-mail et 1 SMS partiraient maintenant");
    expect(flash).not.toContain("(s)");
    expect(flash).not.toMatch(/[a-z]+_[a-z_]+/);
    const leavingNow = page.locator("h3", { hasText: "Partiraient maintenant" }).locator("xpath=following-sibling::*[1]");
    expect(await leavingNow.textContent()).toContain(smsText);
    expect(await page.content()).not.toContain("segment(s)");
    expect(await page.content()).not.toContain("E-mails envoyés");
  });

  it("lists a follow-up that leaves now only under 'Partiraient maintenant', not again under the next opening", async () => {
    const nextOpening = page.locator("h3", { hasText: "À la prochaine ouverture" });
    expect(await nextOpening.textContent()).toMatch(/\(1\)$/);
    const table = nextOpening.locator("xpath=following-sibling::div[1]");
    expect(await table.textContent()).toContain(`n° ${heldId}, étape 1`);
    expect(await table.textContent()).not.toContain(`n° ${leavingId},`);
    expect(await page.locator("h3", { hasText: "Partiraient maintenant" }).textContent()).toContain("(2)");
  });

  it("records a 'Synchroniser' of a failing mailbox as a failed run, and the job says 'échec', not 'réussi'", async () => {
    await row(unreachableId).getByRole("button", { name: "Synchroniser" }).click();
    await expect.poll(() => page.getByRole("status").textContent()).toContain(`Échec de la synchronisation de la boîte n° ${unreachableId}`);
    const [run] = await database.db.select().from(jobRuns).where(and(eq(jobRuns.trigger, "operator"), eq(jobRuns.job, "inbox-sync"))).orderBy(desc(jobRuns.startedAt)).limit(1);
    expect(run).toMatchObject({ status: "error" });
    const manual = (await jobSection("inbox-sync").textContent())!;
    expect(manual).toMatch(/Dernier passage lancé à la main : .*échec/);
    expect(manual).not.toMatch(/Dernier passage lancé à la main : [^\n]*réussi/);
  });

  it("explains a mailbox waiting for reconnection: no sync button, no next try, and the connect command with its provider and company", async () => {
    await page.goto(server.url);
    const text = (await row(reconnectId).textContent())!;
    expect(text).toContain("à reconnecter");
    expect(text).toContain(`lokario-cron integrations connect --provider google --company ${companyId}`);
    expect(text).toContain("aucun : attend la reconnexion");
    expect(text).not.toContain("désactivée");
    expect(await row(reconnectId).getByRole("button", { name: "Synchroniser" }).count()).toBe(0);
    // A sync asked for anyway (an old tab, a crafted form) says what the mailbox is waiting for.
    const csrf = await page.locator('input[name="csrf"]').first().getAttribute("value");
    await page.request.post(server.url, { form: { action: "synchroniser", integration: String(reconnectId), csrf: csrf! }, maxRedirects: 0 });
    await page.goto(server.url);
    const flash = (await page.getByRole("status").textContent())!;
    expect(flash).toContain("à reconnecter");
    expect(flash).toContain("--provider google");
    expect(flash).not.toMatch(/désactivée, introuvable/);
  });

  it("explains each state in French with what fixes it, and keeps the server's own words as a detail line", async () => {
    const refused = row(refusedId);
    expect(await refused.locator(".explain").textContent()).toMatch(/^Le serveur refuse l'identifiant ou le mot de passe/);
    expect(await refused.locator(".detail").textContent()).toContain("IMAP login refused");
    expect(await refused.textContent()).toContain(`lokario-cron integrations update ${refusedId} --password-stdin`);
    const unreachable = row(unreachableId);
    expect(await unreachable.locator(".explain").textContent()).toMatch(/^Panne passagère/);
    expect(await unreachable.locator(".detail").textContent()).toContain("ECONNREFUSED");
    expect(await row(disabledId).textContent()).toContain(`lokario-cron integrations enable ${disabledId}`);
    expect(await row(refusedId).textContent()).toContain("mot de passe · dossiers INBOX et Envoyés");
    // Read once, without a Sent folder on the server: the page says the business's replies are not imported.
    expect(await row(healthyId).textContent()).toContain("dossier INBOX · aucun dossier Envoyés trouvé sur le serveur");
    expect(await row(reconnectId).textContent()).toContain("OAuth2 Google");
    const refusedSend = page.locator("tr", { hasText: "ancien@client.test" });
    expect(await refusedSend.textContent()).toMatch(/Refusé par le destinataire\s*Détail : SMTP 550/);
  });

  it("shows no raw code and no UTC timestamp, and writes every time with its zone, Europe/Paris by default", async () => {
    const text = (await page.locator("main").textContent())!;
    for (const code of ["outside_sending_window", "(http)", "(cli)", "(operator)", "(test)"]) expect(text).not.toContain(code);
    expect(text).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:\d\d/);
    const footer = (await page.locator("main > p.muted").last().textContent())!;
    expect(footer).toMatch(/Page générée le \d\d\/\d\d\/\d{4} \d\d:\d\d UTC\+[12] \(heures de Europe\/Paris\)/);
    expect(await row(refusedId).textContent()).toMatch(/\d\d\/\d\d\/\d{4} \d\d:\d\d UTC\+[12]/);
  });

  it("writes dates in OPERATOR_TIME_ZONE, and refuses a zone the platform does not know", async () => {
    const tokyo = await startPageServer(database, { ...env, OPERATOR_TIME_ZONE: "Asia/Tokyo" });
    try {
      const tokyoPage = await context.newPage();
      await tokyoPage.goto(tokyo.url);
      expect(await tokyoPage.locator("main > p.muted").last().textContent()).toMatch(/\d\d:\d\d UTC\+9 \(heures de Asia\/Tokyo\)/);
      await tokyoPage.close();
    } finally {
      await tokyo.close();
    }
    const wrong = await startPageServer(database, { ...env, OPERATOR_TIME_ZONE: "Europe/Pariss" });
    try {
      const answer = await fetch(wrong.url);
      expect(answer.status).toBe(503);
      expect(await answer.text()).toContain("OPERATOR_TIME_ZONE");
    } finally {
      await wrong.close();
    }
  });

  it("fits a 390 px phone: nothing scrolls sideways and every mailbox's buttons are on the screen", async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3, locale: "fr-FR" });
    try {
      const mobile = await phone.newPage();
      await signIn(mobile, server.url);
      await mobile.locator(`#boite-${refusedId}`).waitFor();
      expect(await mobile.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      // As the page loads, before any sideways scroll of the page or of a table.
      const layout = await mobile.evaluate(() => ({
        buttons: Array.from(document.querySelectorAll("button"), (b) => {
          const box = b.getBoundingClientRect();
          return { text: b.textContent ?? "", left: box.left, right: box.right };
        }),
        scrollingBoxes: Array.from(document.querySelectorAll("main *"))
          .filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== "visible")
          .map((e) => e.outerHTML.slice(0, 80)),
      }));
      expect(layout.buttons.filter((b) => b.text.includes("Synchroniser")).length).toBeGreaterThan(1);
      for (const button of layout.buttons) {
        expect(button.left, button.text).toBeGreaterThanOrEqual(0);
        expect(button.right, button.text).toBeLessThanOrEqual(390);
      }
      expect(layout.scrollingBoxes).toEqual([]);
    } finally {
      await phone.close();
    }
  });
});

async function signIn(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.getByLabel("Secret des tâches").fill(TEST_CRON_SECRET);
  await page.getByRole("button", { name: "Se connecter" }).click();
  await page.locator("#boites").waitFor();
}

/** The follow-ups' cron pinged every hour for a day, until three hours ago: it looks stopped. */
async function seedStoppedFollowupCron(database: TestDatabase): Promise<void> {
  const nowMs = Date.now();
  const rows: (typeof jobRuns.$inferInsert)[] = [];
  for (let h = 3; h <= 24; h++) {
    const startedAt = new Date(nowMs - h * HOUR_MS);
    rows.push({
      runId: `seed-followups-${h}`, job: "followups", trigger: "http", startedAt, finishedAt: startedAt, leaseUntil: startedAt, status: "success",
      summary: { durationMs: 300, sent: 1, failed: 0, remaining: false },
    });
  }
  await database.db.insert(jobRuns).values(rows);
}
