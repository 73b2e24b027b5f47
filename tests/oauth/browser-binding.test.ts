// Attacks on connecting a mailbox with OAuth2, against the real authorization server: a start link
// or a consent link forwarded to someone else, a redirect replayed with another flow's cookie, a
// link used twice or late, a forged Host, a confirmation posted without its CSRF token. In each,
// nothing may be saved to the company's mailboxes.

import { eq } from "drizzle-orm";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { OAUTH_START_PATH, oauthCallbackEndpoint, oauthStartEndpoint } from "../../lib/oauth/oauth-endpoints.js";
import { consentAs, oidcEnv } from "../support/authorization-server.js";
import { TEST_CRON_SECRET, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox } from "../support/mailbox.js";
import { seedCompany } from "../followups/seed.js";
import { type AppBrowser, appBrowser, formOf } from "./app-browser.js";

const MINUTE_MS = 60_000;

describe("OAuth2 connection bound to the browser that started it", () => {
  const authorizationServer = inject("authorizationServer");
  const database = useDatabase("pg");
  let env: Record<string, string>;
  let clockMs = Date.now();
  const now = () => new Date(clockMs);

  beforeAll(async () => {
    env = testEnv(database, {
      OAUTH_REDIRECT_URL: authorizationServer.webRedirectUri,
      ...oidcEnv(),
    });
  });

  const endpointsFor = (environment: Record<string, string>) => {
    const options = { env: () => environment, db: database.db, now };
    return { start: oauthStartEndpoint(options), callback: oauthCallbackEndpoint(options) };
  };
  const browser = () => appBrowser(endpointsFor(env));
  const bearer = { authorization: `Bearer ${TEST_CRON_SECRET}` };
  /** What the app does: asks for a signed link (with the cron secret) to give the business owner. */
  const newLink = async (companyId: number, extra = "", origin = "https://app.lokario.test", headers: Record<string, string> = bearer) => {
    const answer = await endpointsFor(env).start(new Request(`${origin}${OAUTH_START_PATH}?company=${companyId}&provider=oidc&format=link${extra}`, { headers }));
    return { status: answer.status, body: (await answer.json()) as { link: string; error?: string } };
  };
  /** A person opening `link` and pressing its button: returns the provider's consent URL. */
  const startIn = async (person: AppBrowser, link: string): Promise<string> => {
    const opened = await person.open(link);
    const toProvider = opened.status === 200 ? await person.open(formOf(await opened.text(), link).action, {}) : opened;
    const location = toProvider.headers.get("location");
    if (!location) throw new Error(`no way to the provider: HTTP ${toProvider.status}`);
    return location;
  };
  const integrationsOf = (companyId: number) => database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.companyId, companyId));

  it("refuses the provider's redirect in a browser without the starter's cookie (a consent link forwarded to someone else), and saves nothing", async () => {
    clockMs = Date.now();
    const companyId = await seedCompany(database.db);
    const someoneElse = await createMailbox();
    const consentUrl = await startIn(browser(), (await newLink(companyId)).body.link);

    const back = await consentAs(authorizationServer, consentUrl, someoneElse.user);
    const answer = await browser().open(back);

    expect(answer.status).toBe(403);
    expect(answer.headers.get("content-type")).toContain("text/html");
    expect(await answer.text()).toContain("navigateur qui a ouvert le lien");
    expect(await integrationsOf(companyId)).toEqual([]);
  });

  it("refuses the redirect with another connection's cookie, saves nothing, and leaves the starter able to finish", async () => {
    clockMs = Date.now();
    const companyId = await seedCompany(database.db);
    const owner = await createMailbox();
    const starter = browser();
    const attacker = browser();
    const consentUrl = await startIn(starter, (await newLink(companyId)).body.link);
    await startIn(attacker, (await newLink(await seedCompany(database.db))).body.link);
    const back = await consentAs(authorizationServer, consentUrl, owner.user);

    const stolen = await attacker.open(back);

    expect(stolen.status).toBe(403);
    expect(await integrationsOf(companyId)).toEqual([]);
    const own = await starter.open(back);
    expect(own.status).toBe(200);
    expect(await own.text()).toContain(owner.user);
  });

  it("refuses a start link opened a second time, in another browser or the same one", async () => {
    clockMs = Date.now();
    const { link } = (await newLink(await seedCompany(database.db))).body;
    const first = browser();
    const linkPage = await first.open(link);
    const button = formOf(await linkPage.text(), link).action;
    expect((await first.open(button, {})).status).toBe(303);

    const forwarded = await browser().open(link);
    const again = await first.open(button, {});

    expect(forwarded.status).toBe(403);
    expect(await forwarded.text()).toContain("déjà servi");
    expect(again.status).toBe(403);
  });

  it("refuses a start link 16 minutes after it was made (links last 15 minutes unless asked), and a lifetime over an hour", async () => {
    clockMs = Date.now();
    const companyId = await seedCompany(database.db);
    const { link } = (await newLink(companyId)).body;
    const { link: hourLink } = (await newLink(companyId, "&ttl_minutes=60")).body;

    clockMs += 16 * MINUTE_MS;
    const late = await browser().open(link);

    expect(late.status).toBe(403);
    expect(await late.text()).toContain("expiré");
    expect((await browser().open(hourLink)).status).toBe(200);
    const tooLong = await newLink(companyId, "&ttl_minutes=1440");
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toContain("ttl_minutes");
  });

  it("refuses a start link whose company was altered", async () => {
    clockMs = Date.now();
    const companyId = await seedCompany(database.db);
    const forged = new URL((await newLink(companyId)).body.link);
    forged.searchParams.set("company", String(await seedCompany(database.db)));
    expect((await browser().open(forged)).status).toBe(403);
  });

  it("builds the link on the configured address even when the request's Host is forged", async () => {
    clockMs = Date.now();
    const companyId = await seedCompany(database.db);

    const answer = await newLink(companyId, "", "http://evil.example", { ...bearer, host: "evil.example" });

    expect(answer.status).toBe(200);
    expect(new URL(answer.body.link).origin).toBe(new URL(authorizationServer.webRedirectUri).origin);
  });

  it("answers 503 naming PUBLIC_BASE_URL when no public address is configured", async () => {
    const { OAUTH_REDIRECT_URL: _unset, ...withoutAddress } = env;
    const answer = await endpointsFor(withoutAddress).start(new Request(`https://app.test${OAUTH_START_PATH}?company=1&provider=oidc&format=link`, { headers: bearer }));
    expect(answer.status).toBe(503);
    expect(((await answer.json()) as { error: string }).error).toContain("PUBLIC_BASE_URL");
  });

  it("refuses a confirmation without its cookie's CSRF token, and saves nothing until the right one comes", async () => {
    clockMs = Date.now();
    const companyId = await seedCompany(database.db);
    const owner = await createMailbox();
    const person = browser();
    const back = await consentAs(authorizationServer, await startIn(person, (await newLink(companyId)).body.link), owner.user);
    const page = formOf(await (await person.open(back)).text(), back);
    const other = browser();
    const otherBack = await consentAs(authorizationServer, await startIn(other, (await newLink(companyId)).body.link), (await createMailbox()).user);
    const otherToken = formOf(await (await other.open(otherBack)).text(), otherBack).fields.csrf!;

    const withoutToken = await person.open(page.action, { action: "confirm" });
    const withOtherToken = await person.open(page.action, { csrf: otherToken, action: "confirm" });

    expect(withoutToken.status).toBe(403);
    expect(withOtherToken.status).toBe(403);
    expect(await integrationsOf(companyId)).toEqual([]);
    expect((await person.open(page.action, { ...page.fields, action: "confirm" })).status).toBe(200);
    expect(await integrationsOf(companyId)).toMatchObject([{ emailAddress: owner.user }]);
  });

  it("saves nothing when the person cancels on the confirmation page", async () => {
    clockMs = Date.now();
    const companyId = await seedCompany(database.db);
    const person = browser();
    const back = await consentAs(authorizationServer, await startIn(person, (await newLink(companyId)).body.link), (await createMailbox()).user);
    const page = formOf(await (await person.open(back)).text(), back);

    const cancelled = await person.open(page.action, { ...page.fields, action: "cancel" });
    const confirmedAfter = await person.open(page.action, { ...page.fields, action: "confirm" });

    expect(cancelled.status).toBe(200);
    expect(await cancelled.text()).toContain("Rien n'a été enregistré");
    expect(confirmedAfter.status).toBe(403);
    expect(await integrationsOf(companyId)).toEqual([]);
  });

  it("sets the binding cookie HttpOnly, SameSite=Lax and Secure on the callback path only, without Secure for a callback on http://localhost", async () => {
    clockMs = Date.now();
    const companyId = await seedCompany(database.db);
    const { link } = (await newLink(companyId)).body;
    const person = browser();
    const toProvider = await person.open(formOf(await (await person.open(link)).text(), link).action, {});
    const local = await endpointsFor({ ...env, OAUTH_REDIRECT_URL: "http://localhost:3000/api/integrations/oauth/callback" })
      .start(new Request(`http://localhost:3000${OAUTH_START_PATH}?company=${companyId}&provider=oidc`, { headers: bearer }));

    const attributes = (response: Response) => response.headers.getSetCookie()[0]?.split(";").slice(1).map((a) => a.trim()).sort();
    expect(attributes(toProvider)).toEqual(["HttpOnly", "Max-Age=1200", "Path=/api/integrations/oauth/callback", "SameSite=Lax", "Secure"]);
    expect(local.status).toBe(302);
    expect(attributes(local)).toEqual(["HttpOnly", "Max-Age=1200", "Path=/api/integrations/oauth/callback", "SameSite=Lax"]);
  });

  it("shows its pages in French, uncached and unframeable, with no code, state or token in them", async () => {
    clockMs = Date.now();
    const companyId = await seedCompany(database.db);
    const person = browser();
    const back = await consentAs(authorizationServer, await startIn(person, (await newLink(companyId)).body.link), (await createMailbox()).user);

    const confirmation = await person.open(back);
    const refused = await browser().open(back);

    for (const page of [confirmation, refused]) {
      expect(page.headers.get("cache-control")).toBe("no-store");
      expect(page.headers.get("x-frame-options")).toBe("DENY");
      expect(page.headers.get("referrer-policy")).toBe("no-referrer");
      const text = await page.text();
      expect(text).toContain('<html lang="fr">');
      expect(text).toContain('name="viewport"');
      expect(text).not.toContain(back.searchParams.get("code")!);
      expect(text).not.toContain(back.searchParams.get("state")!);
    }
  });

  it("answers 413 to an oversized confirmation and stops reading it", async () => {
    clockMs = Date.now();
    const person = browser();
    const back = await consentAs(authorizationServer, await startIn(person, (await newLink(await seedCompany(database.db))).body.link), (await createMailbox()).user);
    await person.open(back);
    let pulledBytes = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulledBytes += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x61));
      },
    });
    const cookie = [...person.cookies].map(([name, c]) => `${name}=${c.value}`).join("; ");

    const answer = await endpointsFor(env).callback(new Request(back.origin + back.pathname, {
      method: "POST", headers: { cookie, "content-type": "application/x-www-form-urlencoded" }, body: endless, duplex: "half",
    } as RequestInit));

    expect(answer.status).toBe(413);
    expect(pulledBytes).toBeLessThan(1024 * 1024);
  });
});
