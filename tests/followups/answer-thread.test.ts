// A follow-up email continues its conversation in the client's mail program: the second reminder of
// an invoice answers the first (In-Reply-To, References), and a follow-up created from a conversation
// answers that conversation's latest message. Over smtp-server and PostgreSQL; the message answered is
// only ever one of the follow-up's own company.

import { describe, expect, it } from "vitest";
import { conversations, followups, inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { messageToAnswer } from "../../lib/followups/answered-message.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { useSmtpServer } from "../support/smtp.js";
import { attemptsOf, runFollowups, seedCompany, seedInvoiceFollowup } from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first reminder of an invoice due on 2 March. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");
/** Two weeks later: the second reminder. */
const SECOND_DAY = new Date("2026-03-23T08:00:00Z");

describe("a follow-up email in its conversation", () => {
  const smtp = useSmtpServer();
  const database = useDatabase("pg");

  it("sends the second reminder as an answer to the first: In-Reply-To and References name it, the first starts the thread", async () => {
    const config = testConfig(database, smtp.env());
    const seeded = await seedInvoiceFollowup(database.db);

    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 1 });
    expect(await runFollowups(config, SECOND_DAY)).toMatchObject({ sent: 1 });

    const [first, second, ...more] = smtp.receivedBy(seeded.clientEmail);
    expect(more).toEqual([]);
    const [firstAttempt, secondAttempt] = await attemptsOf(database.db, seeded.followupId);
    expect(first!.messageId).toBe(firstAttempt!.messageId);
    expect(first!.parsed.inReplyTo).toBeUndefined();
    expect(first!.parsed.references).toBeUndefined();
    expect(second!.messageId).toBe(secondAttempt!.messageId);
    expect(second!.parsed.inReplyTo).toBe(firstAttempt!.messageId);
    expect([second!.parsed.references].flat()).toEqual([firstAttempt!.messageId]);
  });

  const seedConversation = async (companyId: number, messages: Array<{ externalId: string; references?: string[]; at: string; integrationId?: number; sourceThreadId?: string }>) => {
    const [conversation] = await database.db.insert(conversations).values({ companyId, subject: "Dossier de prêt" }).returning();
    for (const m of messages) {
      await database.db.insert(inboxMessages).values({
        conversationId: conversation!.id, companyId, externalId: m.externalId, dedupeKey: m.externalId.slice(1, -1),
        externalMetadata: { references: m.references ?? [] }, createdAt: new Date(m.at),
        integrationId: m.integrationId ?? null, sourceThreadId: m.sourceThreadId ?? null,
      });
    }
    return conversation!.id;
  };
  const followupOn = async (companyId: number, conversationId: number) => {
    const [row] = await database.db.insert(followups).values({
      companyId, type: "Info manquante", sourceType: "conversation", sourceId: conversationId, sourceLabel: "Dossier de prêt", autoEnabled: true,
    }).returning();
    return row!.id;
  };
  const mailboxOf = async (companyId: number, address: string) =>
    (await database.db.insert(inboxIntegrations).values({ companyId, name: address, emailAddress: address, imapServer: "imap.example.test" }).returning())[0]!.id;

  it("answers the latest message of the conversation a follow-up was created from, extending its References", async () => {
    const companyId = await seedCompany(database.db);
    const conversationId = await seedConversation(companyId, [
      { externalId: "<question@client.test>", at: "2026-03-01T09:00:00Z" },
      { externalId: "<relance@atelier.test>", references: ["question@client.test"], at: "2026-03-02T09:00:00Z" },
      { externalId: "<reponse@client.test>", references: ["question@client.test", "relance@atelier.test"], at: "2026-03-03T09:00:00Z" },
    ]);
    const followupId = await followupOn(companyId, conversationId);

    expect(await messageToAnswer(database.db, { followupId, companyId, sourceType: "conversation", sourceId: conversationId, integrationId: null })).toEqual({
      messageId: "<reponse@client.test>",
      references: ["<question@client.test>", "<relance@atelier.test>", "<reponse@client.test>"],
      sourceThreadId: null,
    });
  });

  it("answers nothing of another company: a follow-up naming another company's conversation starts a new one", async () => {
    const victim = await seedCompany(database.db, undefined, "Victime SARL");
    const attacker = await seedCompany(database.db, undefined, "Intrus SAS");
    const victimsConversation = await seedConversation(victim, [{ externalId: "<secret@banque.test>", at: "2026-03-01T09:00:00Z" }]);
    const followupId = await followupOn(attacker, victimsConversation);

    expect(await messageToAnswer(database.db, { followupId, companyId: attacker, sourceType: "conversation", sourceId: victimsConversation, integrationId: null })).toBeUndefined();
  });

  it("keeps the source's thread id only for a message that came through the mailbox the follow-up is sent from", async () => {
    const companyId = await seedCompany(database.db);
    const gmailbox = await mailboxOf(companyId, "contact@atelier.test");
    const other = await mailboxOf(companyId, "compta@atelier.test");
    const throughIt = await seedConversation(companyId, [{ externalId: "<a@client.test>", at: "2026-03-01T09:00:00Z", integrationId: gmailbox, sourceThreadId: "18c0ffee" }]);
    const followupId = await followupOn(companyId, throughIt);
    const ask = (integrationId: number | null) => messageToAnswer(database.db, { followupId, companyId, sourceType: "conversation", sourceId: throughIt, integrationId });

    expect((await ask(gmailbox))?.sourceThreadId).toBe("18c0ffee");
    expect((await ask(other))?.sourceThreadId).toBeNull();
    expect((await ask(null))?.sourceThreadId).toBeNull();
    expect((await ask(other))?.messageId).toBe("<a@client.test>");
  });
});
