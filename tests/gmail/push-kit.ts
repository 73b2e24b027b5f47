// What the Gmail push tests share: Gmail-API mailboxes of their own companies in the test database
// (a real access token from the tests' authorization server, stored encrypted as the connect flow
// stores it), and the push route served from the route table on a loopback server, the way `npm
// start` serves it, with the work it starts after answering collected so a test can wait for it.

import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { eq } from "drizzle-orm";
import type { PlatformContext } from "../../lib/app/after-response.js";
import { GMAIL_PUSH_PATH } from "../../lib/app/gmail-push-endpoint.js";
import { ROUTES } from "../../lib/app/routes.js";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import type { Db } from "../../lib/db/client.js";
import { companies, inboxIntegrations, mailPushSubscriptions } from "../../lib/db/schema.js";
import type { EndpointOptions } from "../../lib/http/endpoint.js";
import { sendWebResponse, toWebRequest } from "../../server/node-http-bridge.js";
import { accessTokenFor } from "../support/access-token.js";
import type { AuthorizationServerInfo } from "../support/authorization-server.js";
import { TEST_ENCRYPTION_KEY } from "../support/config.js";

export const FAR_AWAY = new Date("2099-01-01T00:00:00Z");

/** A company with one active Gmail-API mailbox of its own, not due before 2099. */
export async function addGmailMailbox(db: Db, authorizationServer: AuthorizationServerInfo): Promise<{ integrationId: number; address: string }> {
  const address = `boite-${randomBytes(5).toString("hex")}@lokario.test`;
  const token = await accessTokenFor(authorizationServer, address);
  const [company] = await db.insert(companies).values({ name: `Entreprise ${address}` }).returning();
  const [row] = await db.insert(inboxIntegrations).values({
    companyId: company!.id,
    emailAddress: address,
    authMethod: "oauth2",
    oauthProvider: "google",
    // Never used: the access token below outlives every test, whatever its clock says.
    oauthRefreshToken: encryptSecret("unused-refresh-token", { encryptionKey: TEST_ENCRYPTION_KEY }),
    oauthAccessToken: encryptSecret(token, { encryptionKey: TEST_ENCRYPTION_KEY }),
    oauthAccessTokenExpiresAt: FAR_AWAY,
    mailTransport: "gmail-api",
    nextSyncAt: FAR_AWAY,
  }).returning();
  return { integrationId: row!.id, address };
}

export async function integrationRow(db: Db, integrationId: number) {
  const [row] = await db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
  return row!;
}

export function watchRowsOf(db: Db, integrationId: number) {
  return db.select().from(mailPushSubscriptions).where(eq(mailPushSubscriptions.integrationId, integrationId));
}

export interface ServedPushRoute {
  url: string;
  /** Waits for the work started after the answers so far (the one-mailbox syncs). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** The route table's Gmail push route on loopback, handed a platform context that collects its waitUntil work. */
export async function servePushRoute(options: EndpointOptions): Promise<ServedPushRoute> {
  const endpoint = ROUTES.find((route) => route.path === GMAIL_PUSH_PATH)!.endpoint(options);
  const pending: Promise<unknown>[] = [];
  const platform: PlatformContext = { waitUntil: (work) => pending.push(work) };
  const server: Server = createServer((req, res) => {
    void (endpoint as (req: Request, platform: PlatformContext) => Promise<Response>)(toWebRequest(req, endpoint.methods), platform)
      .then((response) => sendWebResponse(res, response));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${GMAIL_PUSH_PATH}`,
    settle: async () => {
      while (pending.length > 0) await Promise.allSettled(pending.splice(0));
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
