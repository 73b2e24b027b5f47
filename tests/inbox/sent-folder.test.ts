// The Sent folder on Dovecot: what the business writes from its own mail program is imported as its
// answer, beside the clients' mail of INBOX, once, and only when the integration syncs that folder.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { conversations, inboxFolderCursors, inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail, type TestMailbox } from "../support/mailbox.js";
import { useSmtpServer } from "../support/smtp.js";
import { historyOf, runFollowups, seedCompany, seedInvoiceFollowup } from "../followups/seed.js";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

describe("the Sent folder on Dovecot", () => {
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  const smtp = useSmtpServer();
  let clockMs = Date.now();
  const attachmentsDir = mkdtempSync(join(tmpdir(), "lokario-sent-"));


  const config = () => testConfig(database, { ...smtp.env(), ATTACHMENTS_DIR: attachmentsDir });
  const sync = () =>
    runJob(syncAllJob, {}, { config: config(), log: createLogger("test", { level: "silent" }), trigger: "test", now: () => new Date(clockMs) });
  /** The business clock moves on, so the integration is due again. */
  const later = () => {
    clockMs += 6 * MINUTE_MS;
  };
  const messagesOf = (integrationId: number) =>
    database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId)).orderBy(inboxMessages.createdAt);
  /** Where each folder's cursor stands: a folder read by the sync has one. */
  const cursorsOf = async (integrationId: number) =>
    (await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, integrationId)))
      .map((c) => [c.folder, c.lastUid])
      .sort();
  const conversationOf = async (conversationId: number) =>
    (await database.db.select().from(conversations).where(eq(conversations.id, conversationId)))[0]!;
  /** A mailbox with a Sent folder, connected and synced once while empty: what follows is live mail. */
  const connectedMailbox = async (sentFolder = "Sent", values: Partial<typeof inboxIntegrations.$inferInsert> = {}) => {
    clockMs = Date.now();
    const mailbox = await createMailbox();
    await mailbox.createFolder(sentFolder);
    const ids = await insertIntegration(database.db, mailbox, { values });
    await sync();
    later();
    return { mailbox, ...ids };
  };
  const clientMessage = (mailbox: TestMailbox, date: Date, subject = "Devis salle de bain") =>
    rawMail({ from: "Marie Curie <marie@client.test>", to: mailbox.user, subject, date });

  it("files the business's answer from Sent in the client's conversation as its own, and takes the conversation out of À répondre", async () => {
    const { mailbox, integrationId } = await connectedMailbox();
    const askedAt = new Date(Date.now() - 3 * HOUR_MS);
    const question = clientMessage(mailbox, askedAt);
    const questionId = /Message-ID: (<[^>]+>)/.exec(question)![1]!;
    await mailbox.append(question);
    // Written in Outlook under an alias: the folder, not the From address, says it is the business's.
    await mailbox.append(
      rawMail({
        from: `Atelier Durand <devis@atelier-durand.test>`, to: "marie@client.test", subject: "RE: Devis salle de bain",
        date: new Date(askedAt.getTime() + HOUR_MS), headers: { "In-Reply-To": questionId, References: questionId },
      }),
      { folder: "Sent" },
    );

    expect(await sync()).toMatchObject({ messagesImported: 2, integrations: { succeeded: 1 } });

    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => [m.folder, m.isFromClient, m.read, m.isBackfill])).toEqual([
      ["INBOX", true, false, false],
      ["Sent", false, true, false],
    ]);
    expect(new Set(messages.map((m) => m.conversationId)).size).toBe(1);
    expect(await conversationOf(messages[0]!.conversationId)).toMatchObject({ status: "Répondu", unreadCount: 1 });
    expect(await cursorsOf(integrationId)).toEqual([["INBOX", 1], ["Sent", 1]]);
  });

  it("leaves a conversation À répondre when the client wrote again after the business's answer", async () => {
    const { mailbox, integrationId } = await connectedMailbox();
    const askedAt = new Date(Date.now() - 5 * HOUR_MS);
    const question = clientMessage(mailbox, askedAt);
    const questionId = /Message-ID: (<[^>]+>)/.exec(question)![1]!;
    const answer = rawMail({
      from: mailbox.user, to: "marie@client.test", subject: "Re: Devis salle de bain",
      date: new Date(askedAt.getTime() + HOUR_MS), headers: { "In-Reply-To": questionId },
    });
    const answerId = /Message-ID: (<[^>]+>)/.exec(answer)![1]!;
    await mailbox.appendAll([
      { raw: question },
      {
        raw: rawMail({
          from: "Marie Curie <marie@client.test>", to: mailbox.user, subject: "Re: Devis salle de bain",
          date: new Date(askedAt.getTime() + 2 * HOUR_MS), headers: { "In-Reply-To": answerId, References: `${questionId} ${answerId}` },
        }),
      },
    ]);
    await mailbox.append(answer, { folder: "Sent" });

    expect(await sync()).toMatchObject({ messagesImported: 3 });

    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => m.isFromClient)).toEqual([true, false, true]);
    expect(new Set(messages.map((m) => m.conversationId)).size).toBe(1);
    expect(await conversationOf(messages[0]!.conversationId)).toMatchObject({ status: "À répondre", unreadCount: 2 });
  });

  it("stores a message the business copied to itself once, though it sits in both INBOX and Sent", async () => {
    const { mailbox, integrationId } = await connectedMailbox();
    const copied = rawMail({ from: mailbox.user, to: "marie@client.test", subject: "Votre facture", headers: { Cc: mailbox.user } });
    await mailbox.append(copied);
    await mailbox.append(copied, { folder: "Sent" });

    expect(await sync()).toMatchObject({ messagesImported: 1 });
    later();
    expect(await sync()).toMatchObject({ messagesImported: 0 });

    const messages = await messagesOf(integrationId);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ isFromClient: false, read: true });
    expect(await cursorsOf(integrationId)).toEqual([["INBOX", 1], ["Sent", 1]]);
  });

  it("does not store again a follow-up the product sent through the mailbox when the server files it in Sent", async () => {
    const companyId = await seedCompany(database.db);
    const mailbox = await createMailbox();
    await mailbox.createFolder("Sent");
    const { integrationId } = await insertIntegration(database.db, mailbox, {
      companyId,
      values: { isPrimary: true, smtpServer: smtp.host, smtpPort: smtp.port, smtpUseSsl: false, smtpUsername: mailbox.user },
    });
    const seeded = await seedInvoiceFollowup(database.db, { companyId });
    clockMs = new Date("2026-03-09T07:00:00Z").getTime();
    await sync();

    smtp.requireAuth({ user: mailbox.user, password: mailbox.password });
    try {
      await runFollowups(config(), new Date("2026-03-09T08:00:00Z"));
    } finally {
      smtp.requireAuth(undefined);
    }
    const [sent, ...others] = smtp.receivedBy(seeded.clientEmail);
    expect(others).toEqual([]);
    expect(sent!.envelope.from).toBe(mailbox.user);
    await mailbox.append(sent!.raw, { folder: "Sent" });
    clockMs = new Date("2026-03-09T09:00:00Z").getTime();
    expect(await sync()).toMatchObject({ messagesImported: 0, integrations: { succeeded: 1 } });

    const [history] = await historyOf(database.db, seeded.followupId);
    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => [m.externalId, m.conversationId])).toEqual([[history!.messageId, history!.conversationId]]);
    expect(await cursorsOf(integrationId)).toEqual([["INBOX", 0], ["Sent", 1]]);
    expect(await conversationOf(history!.conversationId!)).toMatchObject({ status: "En attente" });
    // Not a client's reply: the next step still goes out.
    smtp.requireAuth({ user: mailbox.user, password: mailbox.password });
    try {
      await runFollowups(config(), new Date("2026-03-23T08:00:00Z"));
    } finally {
      smtp.requireAuth(undefined);
    }
    expect(smtp.receivedBy(seeded.clientEmail)).toHaveLength(2);
    expect((await historyOf(database.db, seeded.followupId)).map((h) => h.step)).toEqual([1, 2]);
  });

  it("does not store a follow-up sent by the global server when a copy of it turns up in the mailbox's Sent folder", async () => {
    const companyId = await seedCompany(database.db);
    const mailbox = await createMailbox();
    await mailbox.createFolder("Sent");
    const { integrationId } = await insertIntegration(database.db, mailbox, { companyId, values: { isPrimary: true } });
    const seeded = await seedInvoiceFollowup(database.db, { companyId });
    clockMs = new Date("2026-03-09T07:00:00Z").getTime();
    await sync();

    await runFollowups(config(), new Date("2026-03-09T08:00:00Z"));
    const [sent, ...others] = smtp.receivedBy(seeded.clientEmail);
    expect(others).toEqual([]);
    await mailbox.append(sent!.raw, { folder: "Sent" });
    clockMs = new Date("2026-03-09T09:00:00Z").getTime();
    expect(await sync()).toMatchObject({ messagesImported: 0, integrations: { succeeded: 1 } });

    const [history] = await historyOf(database.db, seeded.followupId);
    const rows = await database.db.select().from(inboxMessages).where(eq(inboxMessages.externalId, history!.messageId!));
    expect(rows).toHaveLength(1);
    expect(await cursorsOf(integrationId)).toEqual([["INBOX", 0], ["Sent", 1]]);
  });

  it("finds a Sent folder by its name when the server gives it no special-use attribute", async () => {
    const { mailbox, integrationId } = await connectedMailbox("Sent Items");
    await mailbox.append(rawMail({ from: mailbox.user, to: "marie@client.test", subject: "Rendez-vous jeudi" }), { folder: "Sent Items" });

    expect(await sync()).toMatchObject({ messagesImported: 1 });

    const messages = await messagesOf(integrationId);
    expect(messages.map((m) => [m.folder, m.isFromClient])).toEqual([["Sent Items", false]]);
    expect(await conversationOf(messages[0]!.conversationId)).toMatchObject({ status: "Répondu", unreadCount: 0 });
  });

  it("prefers the folder the server marks \\Sent over one merely named like a Sent folder", async () => {
    const { mailbox, integrationId } = await connectedMailbox("Outgoing");
    await mailbox.createFolder("Sent Items");
    await mailbox.append(rawMail({ from: mailbox.user, to: "marie@client.test", subject: "Envoyé" }), { folder: "Outgoing" });
    await mailbox.append(rawMail({ from: mailbox.user, to: "marie@client.test", subject: "Rangé à la main" }), { folder: "Sent Items" });

    await sync();

    expect((await messagesOf(integrationId)).map((m) => m.folder)).toEqual(["Outgoing"]);
  });

  it("reads the Sent folder only of the integrations whose setting includes it", async () => {
    const inboxOnly = await connectedMailbox("Sent", { syncedFolders: ["inbox"] });
    const both = await connectedMailbox("Sent");
    for (const { mailbox } of [inboxOnly, both]) {
      await mailbox.append(clientMessage(mailbox, new Date()));
      await mailbox.append(rawMail({ from: mailbox.user, to: "marie@client.test", subject: "Hors de l'app" }), { folder: "Sent" });
    }

    expect(await sync()).toMatchObject({ messagesImported: 3, integrations: { succeeded: 2 } });

    expect((await messagesOf(inboxOnly.integrationId)).map((m) => m.folder)).toEqual(["INBOX"]);
    expect(await cursorsOf(inboxOnly.integrationId)).toEqual([["INBOX", 1]]);
    expect((await messagesOf(both.integrationId)).map((m) => m.folder).sort()).toEqual(["INBOX", "Sent"]);
  });

  it("files a reply found in a Sent folder created after the mailbox was connected as live, and the older mail there as backfill", async () => {
    clockMs = Date.now();
    const mailbox = await createMailbox();
    // Connected yesterday, without a Sent folder: the mail program creates it on its first send.
    const connectedAt = new Date(clockMs - DAY_MS);
    const { integrationId } = await insertIntegration(database.db, mailbox, { values: { connectedAt } });
    await sync();
    later();
    const askedAt = new Date(Date.now() - 3 * HOUR_MS);
    const question = clientMessage(mailbox, askedAt);
    const questionId = /Message-ID: (<[^>]+>)/.exec(question)![1]!;
    await mailbox.append(question, { internalDate: askedAt });
    await sync();
    later();
    const [asked] = await messagesOf(integrationId);
    expect(await conversationOf(asked!.conversationId)).toMatchObject({ status: "À répondre" });

    await mailbox.createFolder("Sent");
    const before = new Date(connectedAt.getTime() - 2 * DAY_MS);
    const repliedAt = new Date(askedAt.getTime() + HOUR_MS);
    await mailbox.appendAll([
      { raw: rawMail({ from: mailbox.user, to: "paul@client.test", subject: "Avant la connexion", date: before }), internalDate: before, folder: "Sent" },
      // Old mail copied in after the connection: a fresh INTERNALDATE, its own Date still before it.
      { raw: rawMail({ from: mailbox.user, to: "luc@client.test", subject: "Copié plus tard", date: before }), folder: "Sent" },
      {
        raw: rawMail({ from: mailbox.user, to: "marie@client.test", subject: "Re: Devis salle de bain", date: repliedAt, headers: { "In-Reply-To": questionId } }),
        internalDate: repliedAt,
        folder: "Sent",
      },
    ]);

    expect(await sync()).toMatchObject({ messagesImported: 3 });

    const sent = (await messagesOf(integrationId)).filter((m) => m.folder === "Sent");
    expect(sent.map((m) => [m.fromEmail, m.isFromClient, m.isBackfill])).toEqual([
      [mailbox.user, false, true],
      [mailbox.user, false, true],
      [mailbox.user, false, false],
    ]);
    expect(sent[2]!.conversationId).toBe(asked!.conversationId);
    expect(await conversationOf(asked!.conversationId)).toMatchObject({ status: "Répondu" });
  });

  it("imports only the recent window of a Sent folder synced for the first time, as backfill that changes no conversation", async () => {
    // INBOX has been synced for a while; then the Sent folder is switched on.
    const { mailbox, integrationId } = await connectedMailbox("Sent", { syncedFolders: ["inbox"] });
    const askedAt = new Date(Date.now() - 2 * DAY_MS);
    const question = clientMessage(mailbox, askedAt);
    const questionId = /Message-ID: (<[^>]+>)/.exec(question)![1]!;
    await mailbox.append(question);
    await sync();
    later();
    const old = new Date(Date.now() - 45 * DAY_MS);
    await mailbox.appendAll([
      { raw: rawMail({ from: mailbox.user, to: "paul@client.test", subject: "Ancien", date: old }), internalDate: old, folder: "Sent" },
      {
        raw: rawMail({ from: mailbox.user, to: "marie@client.test", subject: "Re: Devis salle de bain", date: new Date(askedAt.getTime() + HOUR_MS), headers: { "In-Reply-To": questionId } }),
        internalDate: new Date(askedAt.getTime() + HOUR_MS),
        folder: "Sent",
      },
    ]);
    await database.db.update(inboxIntegrations).set({ syncedFolders: ["inbox", "sent"] }).where(eq(inboxIntegrations.id, integrationId));

    expect(await sync()).toMatchObject({ messagesImported: 1 });

    const sent = (await messagesOf(integrationId)).filter((m) => m.folder === "Sent");
    expect(sent.map((m) => [m.isFromClient, m.isBackfill])).toEqual([[false, true]]);
    expect(await conversationOf(sent[0]!.conversationId)).toMatchObject({ status: "À répondre" });

    later();
    await mailbox.append(rawMail({ from: mailbox.user, to: "marie@client.test", subject: "Re: Devis salle de bain", headers: { "In-Reply-To": questionId } }), { folder: "Sent" });
    expect(await sync()).toMatchObject({ messagesImported: 1 });
    const live = (await messagesOf(integrationId)).filter((m) => m.folder === "Sent" && !m.isBackfill);
    expect(live).toHaveLength(1);
    expect(await conversationOf(live[0]!.conversationId)).toMatchObject({ status: "Répondu" });
  });
});
