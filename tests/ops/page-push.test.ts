// The operator's page says, per mailbox, how its mail comes in: the transport (and why when it was
// chosen automatically) and whether new mail is pushed (until when, on the operator's clock) or
// polled (and what would fix it), in French, in a cell a phone shows as a labelled card line.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { companies, inboxIntegrations, mailPushSubscriptions } from "../../lib/db/schema.js";
import { SHARED_MAILBOX_REFUSAL } from "../../lib/graph/push-upkeep.js";
import { TEST_CRON_SECRET } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { cookieOf, type PageServer, postForm, startPageServer } from "./page-server.js";

describe("operator page: each mailbox's transport and push state", () => {
  const database = useDatabase("pg");
  let page: PageServer;
  let text: string;

  beforeAll(async () => {
    // Nouméa is UTC+11 all year: a date shown there cannot be mistaken for UTC or Paris time.
    page = await startPageServer(database, { OPERATOR_TIME_ZONE: "Pacific/Noumea" });
    const [company] = await database.db.insert(companies).values({ name: "Plomberie Martin" }).returning();
    const add = async (emailAddress: string, values: Partial<typeof inboxIntegrations.$inferInsert> = {}) => {
      const [row] = await database.db.insert(inboxIntegrations).values({ companyId: company!.id, emailAddress, ...values }).returning();
      return row!.id;
    };
    await add("imap@plomberie-martin.fr", { syncIntervalMinutes: 10 });
    const pushed = await add("gerant@plomberie-martin.fr", { mailTransport: "graph", authMethod: "oauth2", oauthProvider: "microsoft", imapServer: "a" });
    const shared = await add("devis@plomberie-martin.fr", {
      mailTransport: "graph", authMethod: "oauth2", oauthProvider: "microsoft", oauthConsentingAccount: "gerant@plomberie-martin.fr", imapServer: "b",
    });
    await add("compta@plomberie-martin.fr", {
      mailTransport: "graph", mailTransportReason: "le tenant a désactivé IMAP", authMethod: "oauth2", oauthProvider: "microsoft", imapServer: "c",
    });
    const expiresAt = new Date(Date.now() + 5 * 24 * 3_600_000);
    await database.db.insert(mailPushSubscriptions).values([
      { integrationId: pushed, provider: "graph", folder: "inbox", subscriptionId: "s-1", clientStateHash: "h", expiresAt, state: "active" },
      { integrationId: pushed, provider: "graph", folder: "sentitems", subscriptionId: "s-2", clientStateHash: "h", expiresAt: new Date(expiresAt.getTime() + 60_000), state: "active" },
      { integrationId: shared, provider: "graph", folder: "inbox", state: "refused", lastError: SHARED_MAILBOX_REFUSAL },
    ]);
    const signIn = await postForm(page.url, { action: "connexion", secret: TEST_CRON_SECRET });
    text = await (await fetch(page.url, { headers: { cookie: cookieOf(signIn) } })).text();
    text = text.replace(/\s+/g, " ").replaceAll("&#39;", "'");
  });
  afterAll(async () => {
    await page.close();
  });

  /** The "Réception" cell of the mailbox `address`. */
  const receptionOf = (address: string) => {
    const row = text.slice(text.indexOf(`<strong>${address}</strong>`));
    return row.slice(row.indexOf('data-label="Réception"'), row.indexOf('data-label="Dernier succès"'));
  };

  it("says an IMAP mailbox is polled, every its interval", () => {
    expect(receptionOf("imap@plomberie-martin.fr")).toContain("IMAP/SMTP");
    expect(receptionOf("imap@plomberie-martin.fr")).toContain("relevée toutes les 10 minutes (IMAP n'envoie pas de notification)");
  });

  it("says until when a Graph mailbox's notifications are active, on the operator's clock (the earliest of its folders)", async () => {
    const [inbox] = await database.db.select().from(mailPushSubscriptions).limit(1);
    const shown = new Intl.DateTimeFormat("fr-FR", {
      day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "Pacific/Noumea", timeZoneName: "short",
    }).format(inbox!.expiresAt!);
    const cell = receptionOf("gerant@plomberie-martin.fr");
    expect(shown).toContain("UTC+11");
    expect(cell).toContain("Microsoft Graph");
    expect(cell).toContain(`notifications actives</span> jusqu'au ${shown}`);
  });

  it("says a shared mailbox's notifications were refused, why, that it is polled instead, and what would fix it", () => {
    const cell = receptionOf("devis@plomberie-martin.fr");
    expect(cell).toContain("notifications refusées");
    expect(cell).toContain(`${SHARED_MAILBOX_REFUSAL} → relevée toutes les 5 minutes`);
    expect(cell).toContain("connectez la boîte avec le compte qui la possède");
  });

  it("gives the automatic choice of transport and the setting that turns push on when there is none", () => {
    const cell = receptionOf("compta@plomberie-martin.fr");
    expect(cell).toContain("(choisi automatiquement : le tenant a désactivé IMAP)");
    expect(cell).toContain("sans notification");
    expect(cell).toContain("définissez PUBLIC_BASE_URL");
  });
});
