// The operator page against a client that forges what it can: the headers that name a client's
// address (the sign-in throttle counts by the address only its platform can vouch for) and a copy
// of a session cookie kept past its sign-out.

import { JOBS } from "../../lib/app/job-registry.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { operatorPage } from "../../lib/ops/page/operator-page.js";
import { FREE_FAILURES_PER_CLIENT } from "../../lib/ops/page/sign-in-throttle.js";
import { TEST_CRON_SECRET, testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { cookieOf, type PageServer, postForm, postFormFrom, startPageServer } from "./page-server.js";

/** Every header some platform or proxy uses to name the client: all of them the client can write. */
const FORGED_ADDRESS_HEADERS = ["x-forwarded-for", "x-real-ip", "x-nf-client-connection-ip", "x-vercel-forwarded-for"];

describe("operator page against a forger", () => {
  const database = useDatabase("pg");
  let page: PageServer;

  beforeAll(async () => {
    page = await startPageServer(database);
  });
  afterAll(async () => {
    await page.close();
  });

  /** Fails `FREE_FAILURES_PER_CLIENT` sign-ins through `send`, the last one being refused with 429. */
  const exhaustFreeFailures = async (send: (secret: string) => Promise<Response>) => {
    for (let i = 1; i < FREE_FAILURES_PER_CLIENT; i++) expect((await send(`guess-${i}`)).status).toBe(401);
    expect((await send("guess-last")).status).toBe(429);
  };

  it("on npm start's server, a blocked client does not get in again by forging X-Forwarded-For or any other address header", async () => {
    await exhaustFreeFailures((secret) => postFormFrom("127.0.0.31", page.url, { action: "connexion", secret }));
    for (const [i, name] of FORGED_ADDRESS_HEADERS.entries()) {
      const forged = await postFormFrom("127.0.0.31", page.url, { action: "connexion", secret: TEST_CRON_SECRET }, { [name]: `192.0.2.${i + 1}` });
      expect(forged.status).toBe(429);
      expect(forged.headers.get("set-cookie")).toBeNull();
    }
    // The socket's address is what counts: another one signs in.
    expect((await postFormFrom("127.0.0.32", page.url, { action: "connexion", secret: TEST_CRON_SECRET })).status).toBe(303);
  });

  it("behind TRUST_PROXY_HOPS=1, counts the address the proxy appended, never what the client wrote before it", async () => {
    const proxied = await startPageServer(database, { TRUST_PROXY_HOPS: "1" });
    try {
      const send = (secret: string, forwardedFor: string) => postForm(proxied.url, { action: "connexion", secret }, { "x-forwarded-for": forwardedFor });
      await exhaustFreeFailures((secret) => send(secret, "198.51.100.7"));
      expect((await send(TEST_CRON_SECRET, "203.0.113.1, 198.51.100.7")).status).toBe(429);
      expect((await send(TEST_CRON_SECRET, "198.51.100.8")).status).toBe(303);
    } finally {
      await proxied.close();
    }
  });

  it.each([
    ["Vercel", { VERCEL: "1" }, "x-vercel-forwarded-for", ["x-nf-client-connection-ip"], "198.51.100.40"],
    ["Netlify", { SITE_ID: "site-id", URL: "https://lokario.netlify.app" }, "x-nf-client-connection-ip", ["x-forwarded-for", "x-real-ip", "x-vercel-forwarded-for"], "198.51.100.50"],
  ])("on %s, counts the address the platform writes, and a header it does not write is the client's own", async (_platform, platformEnv, trusted, untrusted, guesser) => {
    const handler = operatorPage(JOBS, { env: () => testEnv(database, platformEnv), db: database.db });
    const send = (secret: string, headers: Record<string, string>) =>
      handler(new Request("https://lokario.example/admin", {
        method: "POST", body: new URLSearchParams({ action: "connexion", secret }), headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      }));
    await exhaustFreeFailures((secret) => send(secret, { [trusted]: guesser }));
    for (const name of untrusted) {
      expect((await send(TEST_CRON_SECRET, { [trusted]: guesser, [name]: "192.0.2.99" })).status).toBe(429);
    }
    expect((await send(TEST_CRON_SECRET, { [trusted]: `${guesser}1` })).status).toBe(303);
  });

  it("ends the session everywhere on sign-out: a copy of the cookie kept before is refused, for the page and for its actions", async () => {
    const signedIn = await postForm(page.url, { action: "connexion", secret: TEST_CRON_SECRET });
    const cookie = cookieOf(signedIn);
    const pageHtml = await (await fetch(page.url, { headers: { cookie } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(pageHtml)![1]!;
    const signedOut = await postForm(page.url, { action: "deconnexion", csrf }, { cookie });
    expect(signedOut.status).toBe(303);
    // The copy: the same cookie, sent again by another browser that kept it.
    const copied = await (await fetch(page.url, { headers: { cookie } })).text();
    expect(copied).toContain('type="password"');
    expect(copied).not.toContain("Boîtes mail");
    const action = await postForm(page.url, { action: "simuler", tache: "followups", csrf }, { cookie });
    expect(action.status).toBe(303);
    expect(action.headers.get("set-cookie")).toBeNull();
    // Another session is not ended by this one's sign-out.
    const other = cookieOf(await postForm(page.url, { action: "connexion", secret: TEST_CRON_SECRET }));
    expect(await (await fetch(page.url, { headers: { cookie: other } })).text()).toContain("Boîtes mail");
  });
});
