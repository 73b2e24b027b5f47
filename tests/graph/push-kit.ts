// What the push tests share: Graph mailboxes of their own companies in the test database (with a
// real access token from the tests' authorization server, stored encrypted as the connect flow
// stores it), and the notification route served from the route table on a loopback server, the
// way `npm start` serves it, with the work it starts after answering collected so a test can wait
// for it instead of sleeping.

import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { eq } from "drizzle-orm";
import { GRAPH_NOTIFICATIONS_PATH } from "../../lib/app/graph-notifications-endpoint.js";
import type { PlatformContext } from "../../lib/app/after-response.js";
import { ROUTES } from "../../lib/app/routes.js";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import type { Db } from "../../lib/db/client.js";
import { companies, inboxIntegrations } from "../../lib/db/schema.js";
import type { EndpointOptions } from "../../lib/http/endpoint.js";
import { sendWebResponse, toWebRequest } from "../../server/node-http-bridge.js";
import type { AuthorizationServerInfo } from "../support/authorization-server.js";
import { TEST_ENCRYPTION_KEY } from "../support/config.js";
import type { TestGraphServer } from "../support/graph-server.js";
import { issueAccessToken } from "./graph-harness.js";

export interface GraphMailboxRow {
  integrationId: number;
  companyId: number;
  address: string;
}

/** A company with one active Graph mailbox `address` (its own person's, or `consentingAccount`'s shared one). */
export async function addGraphMailbox(
  db: Db,
  graph: TestGraphServer,
  authorizationServer: AuthorizationServerInfo,
  options: { consentingAccount?: string; address?: string } = {},
): Promise<GraphMailboxRow> {
  const address = options.address ?? `contact-${randomBytes(4).toString("hex")}@contoso.test`;
  graph.addMailbox(address);
  const account = options.consentingAccount ?? address;
  if (options.consentingAccount) {
    graph.addMailbox(account);
    graph.grant(address, account);
  }
  const token = await issueAccessToken(authorizationServer, account);
  const [company] = await db.insert(companies).values({ name: `Entreprise ${address}` }).returning();
  const [row] = await db.insert(inboxIntegrations).values({
    companyId: company!.id,
    emailAddress: address,
    authMethod: "oauth2",
    oauthProvider: "microsoft",
    oauthConsentingAccount: options.consentingAccount ?? null,
    // Never used: the access token below outlives every test, whatever its clock says.
    oauthRefreshToken: encryptSecret("unused-refresh-token", { encryptionKey: TEST_ENCRYPTION_KEY }),
    oauthAccessToken: encryptSecret(token, { encryptionKey: TEST_ENCRYPTION_KEY }),
    oauthAccessTokenExpiresAt: new Date("2099-01-01T00:00:00Z"),
    mailTransport: "graph",
    nextSyncAt: new Date("2099-01-01T00:00:00Z"),
  }).returning();
  return { integrationId: row!.id, companyId: company!.id, address };
}

/** The integration row as it is now. */
export async function integrationRow(db: Db, integrationId: number) {
  const [row] = await db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
  return row!;
}

export interface ServedRoute {
  /** The notification URL, as PUBLIC_BASE_URL + the route's path. */
  url: string;
  baseUrl: string;
  /** Waits for the work started after the answers so far (the one-mailbox syncs). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** The route table's notification route on loopback, handed a platform context that collects its waitUntil work. */
export async function serveNotificationRoute(options: EndpointOptions): Promise<ServedRoute> {
  const endpoint = ROUTES.find((route) => route.path === GRAPH_NOTIFICATIONS_PATH)!.endpoint(options);
  const pending: Promise<unknown>[] = [];
  const platform: PlatformContext = { waitUntil: (work) => pending.push(work) };
  const server: Server = createServer((req, res) => {
    void (endpoint as (req: Request, platform: PlatformContext) => Promise<Response>)(toWebRequest(req, endpoint.methods), platform)
      .then((response) => sendWebResponse(res, response));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${baseUrl}${GRAPH_NOTIFICATIONS_PATH}`,
    baseUrl,
    settle: async () => {
      while (pending.length > 0) await Promise.allSettled(pending.splice(0));
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
