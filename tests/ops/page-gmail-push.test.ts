// The operator's page says how a Gmail-API mailbox's mail comes in: its watch active until when (on
// the operator's clock), refused with Google's reason and what fixes it, or missing and the
// settings that turn it on, in French. The watch is a `mail_push_subscriptions` row of provider
// `gmail`, folder `*`.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { companies, inboxIntegrations, mailPushSubscriptions } from "../../lib/db/schema.js";
import { TEST_CRON_SECRET } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { cookieOf, type PageServer, postForm, startPageServer } from "./page-server.js";

const REFUSAL = "Google a refusé la surveillance de la boîte (Gmail API users.watch answered HTTP 400) : elle est relevée périodiquement";

describe("operator page: a Gmail mailbox's watch", () => {
  const database = useDatabase("pg");
  let page: PageServer;
  let text: string;
  const expiresAt = new Date(Date.now() + 6 * 24 * 3_600_000);

  beforeAll(async () => {
    page = await startPageServer(database, { OPERATOR_TIME_ZONE: "Pacific/Noumea" });
    const [company] = await database.db.insert(companies).values({ name: "Menuiserie Roux" }).returning();
    const add = async (emailAddress: string) => {
      const [row] = await database.db.insert(inboxIntegrations)
        .values({ companyId: company!.id, emailAddress, mailTransport: "gmail-api", authMethod: "oauth2", oauthProvider: "google", imapServer: emailAddress }).returning();
      return row!.id;
    };
    const watched = await add("atelier@menuiserie-roux.fr");
    const refused = await add("devis@menuiserie-roux.fr");
    await add("compta@menuiserie-roux.fr");
    await database.db.insert(mailPushSubscriptions).values([
      { integrationId: watched, provider: "gmail", folder: "*", subscriptionId: `projects/p/topics/t#${watched}`, expiresAt, state: "active" },
      { integrationId: refused, provider: "gmail", folder: "*", state: "refused", lastError: REFUSAL },
    ]);
    const signIn = await postForm(page.url, { action: "connexion", secret: TEST_CRON_SECRET });
    text = await (await fetch(page.url, { headers: { cookie: cookieOf(signIn) } })).text();
    text = text.replace(/\s+/g, " ").replaceAll("&#39;", "'");
  });
  afterAll(async () => {
    await page.close();
  });

  const receptionOf = (address: string) => {
    const row = text.slice(text.indexOf(`<strong>${address}</strong>`));
    return row.slice(row.indexOf('data-label="Réception"'), row.indexOf('data-label="Dernier succès"'));
  };

  it("says until when a watched mailbox's notifications are active, on the operator's clock", () => {
    const shown = new Intl.DateTimeFormat("fr-FR", {
      day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "Pacific/Noumea", timeZoneName: "short",
    }).format(expiresAt);
    const cell = receptionOf("atelier@menuiserie-roux.fr");
    expect(cell).toContain("Gmail API");
    expect(cell).toContain(`notifications actives</span> jusqu'au ${shown}`);
  });

  it("says a refused watch's reason, that the mailbox is polled, and what fixes it on Google's side", () => {
    const cell = receptionOf("devis@menuiserie-roux.fr");
    expect(cell).toContain("notifications refusées");
    expect(cell).toContain(`${REFUSAL} → relevée toutes les 5 minutes`);
    expect(cell).toContain("vérifiez que GMAIL_PUBSUB_TOPIC est un sujet Pub/Sub du projet Google Cloud de l'application");
    expect(cell).not.toContain("boîte partagée");
  });

  it("names the Gmail settings that turn push on when the mailbox has no watch", () => {
    const cell = receptionOf("compta@menuiserie-roux.fr");
    expect(cell).toContain("sans notification");
    expect(cell).toContain("définissez GMAIL_PUBSUB_TOPIC");
    expect(cell).not.toContain("PUBLIC_BASE_URL");
  });
});
