// Who may use the operator's page: the cron secret through a throttled form, a signed session
// cookie with an expiry and safe flags, and a CSRF token on every action.

import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxIntegrations, jobRuns } from "../../lib/db/schema.js";
import { FREE_FAILURES_PER_CLIENT } from "../../lib/ops/page/sign-in-throttle.js";
import { SESSION_TTL_MS } from "../../lib/ops/page/session.js";
import { startLocalServer } from "../../server/local.js";
import { TEST_CRON_SECRET, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { cookieOf, type PageServer, postForm, postFormFrom, startPageServer } from "./page-server.js";

const HOUR_MS = 60 * 60 * 1000;

describe("operator page access", () => {
  const database = useDatabase("pg");
  let page: PageServer;

  beforeAll(async () => {
    page = await startPageServer(database);
  });
  afterAll(async () => {
    await page.close();
  });

  const signIn = async (headers: Record<string, string> = {}) => {
    const answer = await postForm(page.url, { action: "connexion", secret: TEST_CRON_SECRET }, headers);
    expect(answer.status).toBe(303);
    return cookieOf(answer);
  };
  const csrfOf = async (cookie: string) => {
    const text = await (await fetch(page.url, { headers: { cookie } })).text();
    return /name="csrf" value="([^"]+)"/.exec(text)![1]!;
  };
  const addCompanyMailbox = async () => {
    const { companies } = await import("../../lib/db/schema.js");
    const [company] = await database.db.insert(companies).values({ name: "Plomberie Martin" }).returning();
    const [row] = await database.db.insert(inboxIntegrations).values({ companyId: company!.id, emailAddress: "contact@plomberie-martin.fr" }).returning();
    return row!.id;
  };

  it("shows the sign-in form, not the page, without a session, and never puts the secret in a URL", async () => {
    const answer = await fetch(page.url);
    expect(answer.status).toBe(200);
    const text = await answer.text();
    expect(text).toContain('<form method="post"');
    expect(text).toContain('type="password"');
    expect(text).not.toContain("Boîtes mail");
  });

  it("sets an HttpOnly, SameSite=Strict session cookie with an expiry, without Secure in local development", async () => {
    const answer = await postForm(page.url, { action: "connexion", secret: TEST_CRON_SECRET });
    expect(answer.status).toBe(303);
    expect(answer.headers.get("location")).toBe("/admin");
    const cookie = answer.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^lokario_operateur=[^;]+; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain(TEST_CRON_SECRET);
  });

  it("marks the session cookie Secure in production", async () => {
    const production = await startPageServer(database, { NODE_ENV: "production" });
    try {
      const answer = await postForm(production.url, { action: "connexion", secret: TEST_CRON_SECRET });
      expect(answer.status).toBe(303);
      expect(answer.headers.get("set-cookie")).toMatch(/; HttpOnly; SameSite=Strict; Secure$/);
    } finally {
      await production.close();
    }
  });

  it(`refuses a client after ${FREE_FAILURES_PER_CLIENT} wrong secrets, even with the right one, until its wait is over`, async () => {
    // Clients are told apart by their socket's address: the guesser connects from 127.0.0.7.
    const guess = (secret: string) => postFormFrom("127.0.0.7", page.url, { action: "connexion", secret });
    for (let i = 1; i < FREE_FAILURES_PER_CLIENT; i++) {
      const wrong = await guess(`guess-${i}`);
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).toContain("Secret incorrect");
    }
    expect((await guess("guess-last")).status).toBe(429);
    const right = await guess(TEST_CRON_SECRET);
    expect(right.status).toBe(429);
    expect(right.headers.get("set-cookie")).toBeNull();
    expect(await right.text()).toContain("Trop de secrets incorrects");
    // Another client is not held back by this one.
    expect((await postFormFrom("127.0.0.20", page.url, { action: "connexion", secret: TEST_CRON_SECRET })).status).toBe(303);
    page.advance(HOUR_MS + 1000);
    expect((await guess(TEST_CRON_SECRET)).status).toBe(303);
  });

  it("sends an expired session back to the sign-in form, saying so, and runs no action with it", async () => {
    const cookie = await signIn();
    const csrf = await csrfOf(cookie);
    page.advance(SESSION_TTL_MS + 1000);
    const text = await (await fetch(page.url, { headers: { cookie } })).text();
    expect(text).toContain("Votre session a expiré");
    expect(text).toContain('type="password"');
    const before = await database.db.$count(jobRuns);
    const action = await postForm(page.url, { action: "simuler", tache: "followups", csrf }, { cookie });
    expect(action.status).toBe(303);
    expect(action.headers.get("set-cookie")).toBeNull();
    expect(await database.db.$count(jobRuns)).toBe(before);
  });

  it("refuses with 403 a forged POST without the CSRF token or with a wrong one, and changes nothing", async () => {
    const integrationId = await addCompanyMailbox();
    const cookie = await signIn();
    const forged: Record<string, string>[] = [{}, { csrf: "forged-token" }, { csrf: "" }];
    for (const extra of forged) {
      const answer = await postForm(page.url, { action: "desactiver", integration: String(integrationId), ...extra }, { cookie });
      expect(answer.status).toBe(403);
      expect(await answer.text()).toContain("Rien n'a été fait");
    }
    // Another session's token does not fit this session either.
    const otherToken = await csrfOf(await signIn());
    expect((await postForm(page.url, { action: "desactiver", integration: String(integrationId), csrf: otherToken }, { cookie })).status).toBe(403);
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    expect(row!.isActive).toBe(true);
    // With its own token, the same action goes through.
    const allowed = await postForm(page.url, { action: "desactiver", integration: String(integrationId), csrf: await csrfOf(cookie) }, { cookie });
    expect(allowed.status).toBe(303);
    const [after] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    expect(after!.isActive).toBe(false);
  });

  it("offers a simulation for the jobs of the registry that have a dry run, runs it dry, and refuses one for a job without", async () => {
    const cookie = await signIn();
    const pageHtml = await (await fetch(page.url, { headers: { cookie } })).text();
    expect(pageHtml).toContain('name="tache" value="followups"');
    expect(pageHtml).not.toContain('name="tache" value="inbox-sync"');
    const flashAfter = async (fields: Record<string, string>) => {
      const answer = await postForm(page.url, { ...fields, csrf: await csrfOf(cookie) }, { cookie });
      expect(answer.status).toBe(303);
      return (await fetch(page.url, { headers: { cookie: `${cookie}; ${cookieOf(answer)}` } })).text();
    };
    expect(await flashAfter({ action: "simuler", tache: "followups" })).toMatch(/class="flash ok" role="status">Simulation : \d+ e-mail/);
    const [run] = await database.db.select().from(jobRuns).where(eq(jobRuns.trigger, "operator"));
    expect(run).toMatchObject({ job: "followups", status: "success" });
    expect(await flashAfter({ action: "simuler", tache: "inbox-sync" })).toContain("Pas de simulation pour la tâche inbox-sync");
  });

  it("does not accept a session cookie signed with another secret", async () => {
    const cookie = await signIn();
    const rotated = await startPageServer(database, { CRON_SECRET: "another-secret-0123456789abcdef0123456789" });
    try {
      const text = await (await fetch(rotated.url, { headers: { cookie } })).text();
      expect(text).toContain('type="password"');
      expect(text).not.toContain("Boîtes mail");
    } finally {
      await rotated.close();
    }
  });

  it("keeps the search out of the URL: it is posted, and the answer lists only the matching mailbox", async () => {
    await addCompanyMailbox();
    const cookie = await signIn();
    const csrf = await csrfOf(cookie);
    const answer = await postForm(page.url, { action: "rechercher", csrf, etat: "toutes", recherche: "plomberie-martin" }, { cookie });
    expect(answer.status).toBe(200);
    const text = await answer.text();
    expect(text).toContain("contact@plomberie-martin.fr");
    expect(text).not.toContain("?recherche=");
  });

  it("is served by npm start's server at /admin", async () => {
    const server = await startLocalServer({ env: testEnv(database), port: 0, isCronOn: false });
    try {
      const answer = await fetch(`${server.url}/admin`);
      expect(answer.status).toBe(200);
      expect(answer.headers.get("content-type")).toBe("text/html; charset=utf-8");
      expect(await answer.text()).toContain("Se connecter");
    } finally {
      await server.close();
    }
  });
});
