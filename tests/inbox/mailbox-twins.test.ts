// One company mailbox, several integrations over time: disabled and added again, removed with its
// mail kept and added again. Each message stays one row per company mailbox, whatever the id of
// the integration that finds it (messages without a Message-ID included), on Dovecot and each driver.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { conversations, inboxMessages } from "../../lib/db/schema.js";
import { removeIntegration } from "../../lib/inbox/remove-integration.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { updateIntegration } from "../../lib/inbox/update-integration.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { createLocalStorage } from "../../lib/storage/attachment-storage.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, DRIVERS, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail, type TestMailbox } from "../support/mailbox.js";

const MINUTE_MS = 60_000;

describe.each(DRIVERS)("a company mailbox connected again (%s)", (driver) => {
  const database = useDatabase(driver, { afterEach: deactivateIntegrations });
  let clockMs = Date.now();
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-twins-"));


  const sync = async () => {
    clockMs += 6 * MINUTE_MS;
    return runJob(syncAllJob, {}, {
      config: testConfig(database, { ATTACHMENTS_DIR: attachmentsDir }),
      log: createLogger("test", { level: "silent" }),
      trigger: "test",
      now: () => new Date(clockMs),
    });
  };
  /** The company's messages, whichever integration (or none) they are attached to. */
  const messagesOfCompany = (companyId: number) =>
    database.db
      .select({ dedupeKey: inboxMessages.dedupeKey, integrationId: inboxMessages.integrationId })
      .from(inboxMessages)
      .innerJoin(conversations, eq(conversations.id, inboxMessages.conversationId))
      .where(eq(conversations.companyId, companyId));
  const conversationCount = (companyId: number) => database.db.$count(conversations, eq(conversations.companyId, companyId));
  /** Six messages, two of them without a Message-ID (keyed by a hash of their content). */
  const mailboxWithSixMessages = async (): Promise<TestMailbox> => {
    const mailbox = await createMailbox();
    await mailbox.appendAll([
      ...["Devis cuisine", "Rendez-vous", "Facture 12", "Relance"].map((subject) => ({ raw: rawMail({ subject }) })),
      { raw: rawMail({ subject: "Sans identifiant 1", messageId: null }) },
      { raw: rawMail({ subject: "Sans identifiant 2", messageId: null }) },
    ]);
    return mailbox;
  };
  const connectedAndSynced = async () => {
    clockMs = Date.now();
    const mailbox = await mailboxWithSixMessages();
    const { companyId, integrationId } = await insertIntegration(database.db, mailbox);
    expect(await sync()).toMatchObject({ messagesImported: 6, integrations: { succeeded: 1 } });
    return { mailbox, companyId, integrationId };
  };

  it("stores nothing a second time when a disabled mailbox is added again as a new integration", async () => {
    const { mailbox, companyId, integrationId } = await connectedAndSynced();
    const conversationsBefore = await conversationCount(companyId);
    await updateIntegration(database.db, integrationId, { isActive: false }, new Date(clockMs));
    // Added again as the app may add it: a new row, its address written in another case.
    const twin = await insertIntegration(database.db, mailbox, {
      companyId, values: { emailAddress: ` ${mailbox.user.toUpperCase()} `, imapUsername: mailbox.user },
    });
    await mailbox.append(rawMail({ subject: "Nouveau message" }));

    expect(await sync()).toMatchObject({ messagesImported: 1, integrations: { succeeded: 1 } });

    const messages = await messagesOfCompany(companyId);
    expect(messages).toHaveLength(7);
    expect(new Set(messages.map((m) => m.dedupeKey)).size).toBe(7);
    expect(messages.filter((m) => m.integrationId === twin.integrationId)).toHaveLength(1);
    expect(await conversationCount(companyId)).toBe(conversationsBefore + 1);
  });

  it("stores nothing a second time when a mailbox removed with its mail kept is added again", async () => {
    const { mailbox, companyId, integrationId } = await connectedAndSynced();
    await removeIntegration(database.db, integrationId, { shouldDeleteMail: false, storage: createLocalStorage(attachmentsDir) });
    await insertIntegration(database.db, mailbox, { companyId });

    expect(await sync()).toMatchObject({ messagesImported: 0, integrations: { succeeded: 1 } });

    const messages = await messagesOfCompany(companyId);
    expect(messages).toHaveLength(6);
    expect(messages.every((m) => m.integrationId === null)).toBe(true);
  });

  it("still gives each company its own copy of a mailbox both have connected", async () => {
    const { mailbox, companyId } = await connectedAndSynced();
    const other = await insertIntegration(database.db, mailbox);

    expect(await sync()).toMatchObject({ messagesImported: 6 });

    expect(await messagesOfCompany(companyId)).toHaveLength(6);
    expect(await messagesOfCompany(other.companyId)).toHaveLength(6);
  });
});
