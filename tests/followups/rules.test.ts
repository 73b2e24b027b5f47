// The follow-up job's rules through the whole job, on PostgreSQL with a real SMTP server: what
// closes a follow-up, what holds it, catch-up after an outage, the sending window, one email per
// client per day, dry runs, templates in the delivered email, and the company's own mailbox.

import { eq } from "drizzle-orm";
import { beforeEach, describe, expect, it } from "vitest";
import type { Config } from "../../lib/config.js";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import {
  companySettings,
  conversations,
  followupHistory,
  followups,
  followupSendAttempts,
  inboxIntegrations,
  inboxMessages,
  invoices,
  quotes,
} from "../../lib/db/schema.js";
import { useDatabase } from "../support/databases.js";
import { TEST_ENCRYPTION_KEY, testConfig } from "../support/config.js";
import { useSmtpServer } from "../support/smtp.js";
import {
  historyOf,
  recordManualSend,
  runFollowups,
  seedClient,
  seedCompany,
  seedInvoiceFollowup,
  seedQuoteFollowup,
  statusOf,
  SWITCHED_ON,
} from "./seed.js";

/** Monday 9 March 2026, 09:00 in Paris: the first follow-up of an invoice due on 2 March is due. */
const FIRST_DAY = new Date("2026-03-09T08:00:00Z");

const smtp = useSmtpServer();
const database = useDatabase("pg", { scope: "test" });
let config: Config;

beforeEach(async () => {
  config = testConfig(database, smtp.env());
});

describe("what closes a follow-up without sending", () => {
  it("closes the follow-up of an invoice paid since it was created, and sends nothing", async () => {
    const paid = await seedInvoiceFollowup(database.db);
    const paidAtOnly = await seedInvoiceFollowup(database.db);
    const cancelled = await seedInvoiceFollowup(database.db);
    await database.db.update(invoices).set({ status: "payée" }).where(eq(invoices.id, paid.invoiceId));
    await database.db.update(invoices).set({ paidAt: new Date("2026-03-08T10:00:00Z") }).where(eq(invoices.id, paidAtOnly.invoiceId));
    await database.db.update(invoices).set({ status: "annulée" }).where(eq(invoices.id, cancelled.invoiceId));

    const run = await runFollowups(config, FIRST_DAY);
    expect(run).toMatchObject({ sent: 0, closed: 3, closedByReason: { invoice_paid: 2, invoice_cancelled: 1 } });
    for (const s of [paid, paidAtOnly, cancelled]) {
      expect(await statusOf(database.db, s.followupId)).toBe("Fait");
      expect(smtp.receivedBy(s.clientEmail)).toEqual([]);
    }
  });

  it("closes the follow-up of a quote accepted, refused or signed", async () => {
    const companyId = await seedCompany(database.db);
    const validUntil = new Date("2026-03-01T23:00:00Z");
    const accepted = await seedQuoteFollowup(database.db, companyId, validUntil);
    const refused = await seedQuoteFollowup(database.db, companyId, validUntil);
    const signed = await seedQuoteFollowup(database.db, companyId, validUntil);
    const open = await seedQuoteFollowup(database.db, companyId, validUntil);
    await database.db.update(quotes).set({ status: "accepté" }).where(eq(quotes.id, accepted.quoteId));
    await database.db.update(quotes).set({ status: "refusé" }).where(eq(quotes.id, refused.quoteId));
    await database.db.update(quotes).set({ clientSignaturePath: "signatures/dev-23.png" }).where(eq(quotes.id, signed.quoteId));

    const run = await runFollowups(config, FIRST_DAY);
    expect(run).toMatchObject({ sent: 1, closed: 3, closedByReason: { quote_accepted: 1, quote_refused: 1, quote_signed: 1 } });
    expect(smtp.receivedBy(open.clientEmail).map((m) => m.parsed.subject)).toEqual([expect.stringMatching(/^Votre devis DEV-2026-/)]);
  });

  it("closes the follow-up once the client answered its email, but not for an out-of-office reply", async () => {
    const answered = await seedInvoiceFollowup(database.db);
    const outOfOffice = await seedInvoiceFollowup(database.db);
    await runFollowups(config, FIRST_DAY);
    const [first] = await historyOf(database.db, answered.followupId);
    const [second] = await historyOf(database.db, outOfOffice.followupId);
    await database.db.insert(inboxMessages).values([
      { conversationId: first!.conversationId!, fromEmail: answered.clientEmail, content: "Je règle demain.", isFromClient: true,
        dedupeKey: "reply-1@example.com", createdAt: new Date("2026-03-10T09:00:00Z") },
      { conversationId: second!.conversationId!, fromEmail: outOfOffice.clientEmail, content: "Absent jusqu'au 30.", isFromClient: true,
        isAutoReply: true, dedupeKey: "ooo-1@example.com", createdAt: new Date("2026-03-09T08:01:00Z") },
    ]);

    const run = await runFollowups(config, new Date("2026-03-23T08:00:00Z"));
    expect(run).toMatchObject({ sent: 1, closed: 1, closedByReason: { client_replied: 1 } });
    expect(await statusOf(database.db, answered.followupId)).toBe("Fait");
    expect(smtp.receivedBy(answered.clientEmail)).toHaveLength(1);
    expect(smtp.receivedBy(outOfOffice.clientEmail)).toHaveLength(2);
  });

  it("counts a reply naming the sent Message-ID in its headers even when filed in another conversation", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    await runFollowups(config, FIRST_DAY);
    const [sent] = await historyOf(database.db, seeded.followupId);
    const [other] = await database.db
      .insert(conversations)
      .values({ companyId: seeded.companyId, subject: "Paiement", status: "À répondre" })
      .returning({ id: conversations.id });
    await database.db.insert(inboxMessages).values({
      conversationId: other!.id, fromEmail: seeded.clientEmail, content: "Voici le virement.", isFromClient: true,
      dedupeKey: "reply-2@example.com", createdAt: new Date("2026-03-11T09:00:00Z"),
      externalMetadata: { inReplyTo: [sent!.messageId!.slice(1, -1)], references: [] },
    });

    expect(await runFollowups(config, new Date("2026-03-23T08:00:00Z"))).toMatchObject({ sent: 0, closedByReason: { client_replied: 1 } });
  });

  it("ignores a client message older than the follow-up email", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    await runFollowups(config, FIRST_DAY);
    const [sent] = await historyOf(database.db, seeded.followupId);
    await database.db.insert(inboxMessages).values({
      conversationId: sent!.conversationId!, fromEmail: seeded.clientEmail, content: "Ancien message", isFromClient: true,
      dedupeKey: "old@example.com", createdAt: new Date("2026-03-01T09:00:00Z"),
    });
    expect(await runFollowups(config, new Date("2026-03-23T08:00:00Z"))).toMatchObject({ sent: 1, closed: 0 });
  });

  it("closes the follow-up when manual sends already reached max_relances", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    for (const day of ["2026-03-03T10:00:00Z", "2026-03-05T10:00:00Z", "2026-03-06T10:00:00Z"]) {
      await recordManualSend(database.db, seeded.followupId, seeded.companyId, new Date(day));
    }
    expect(await runFollowups(config, new Date("2026-04-06T08:00:00Z"))).toMatchObject({ sent: 0, closedByReason: { max_relances_reached: 1 } });
    expect(await statusOf(database.db, seeded.followupId)).toBe("Fait");
  });
});

describe("what holds a follow-up", () => {
  it("sends nothing for a company that has not switched automatic follow-ups on", async () => {
    const off = await seedInvoiceFollowup(database.db, { settings: {} });
    const run = await runFollowups(config, FIRST_DAY);
    expect(run).toMatchObject({ examined: 1, sent: 0, skippedByReason: { company_switch_off: 1 } });
    expect(await statusOf(database.db, off.followupId)).toBe("À faire");
  });

  it("never sends to a client without an address, or with a list of addresses", async () => {
    await seedInvoiceFollowup(database.db, { clientEmail: null });
    await seedInvoiceFollowup(database.db, { clientEmail: "a@example.com, boss@example.com" });
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 0, skippedByReason: { no_client_email: 2 } });
    expect(smtp.received.filter((m) => m.envelope.to.includes("boss@example.com"))).toEqual([]);
  });

  it("holds the follow-up of a draft invoice", async () => {
    await seedInvoiceFollowup(database.db, { invoiceStatus: "brouillon" });
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 0, skippedByReason: { source_draft: 1 } });
  });

  it("reads the amount and due date from the invoice at send time", async () => {
    const moved = await seedInvoiceFollowup(database.db);
    const corrected = await seedInvoiceFollowup(database.db);
    await database.db.update(invoices).set({ dueDate: new Date("2026-03-15T23:00:00Z") }).where(eq(invoices.id, moved.invoiceId));
    await database.db.update(invoices).set({ totalTtc: "99.90" }).where(eq(invoices.id, corrected.invoiceId));

    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 1, skippedByReason: { not_due_yet: 1 } });
    expect(smtp.receivedBy(corrected.clientEmail)[0]!.parsed.text).toContain("d'un montant de 99,90 €");
  });

  it("waits for a company's SMTP settings before sending anything", async () => {
    await seedInvoiceFollowup(database.db);
    const withoutSmtp = testConfig(database);
    expect(await runFollowups(withoutSmtp, FIRST_DAY)).toMatchObject({ sent: 0, skippedByReason: { no_smtp_configured: 1 } });
  });

  it("does not email a type the company chose to follow up by SMS, and skips a client without a phone", async () => {
    await seedInvoiceFollowup(database.db, {
      settings: { ...SWITCHED_ON, followups: { messages: [{ type: "Facture impayée", content: "Bonjour", method: "sms" }] } },
    });
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 0, skippedByReason: { no_client_phone: 1 } });
  });
});

describe("timing", () => {
  it("sends one email, not a burst, after ten days without runs, and the next one 14 days later", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    // The cron was down from 9 March (step 1 due) to 24 March (step 2 would have been due on 23 March).
    const resumed = await runFollowups(config, new Date("2026-03-24T08:00:00Z"));
    expect(resumed).toMatchObject({ sent: 1 });
    expect(await runFollowups(config, new Date("2026-03-24T10:00:00Z"))).toMatchObject({ sent: 0 });
    expect(await runFollowups(config, new Date("2026-04-06T08:00:00Z"))).toMatchObject({ sent: 0 });
    expect(await runFollowups(config, new Date("2026-04-07T08:00:00Z"))).toMatchObject({ sent: 1 });
    expect((await historyOf(database.db, seeded.followupId)).map((h) => h.step)).toEqual([1, 2]);
  });

  it("sends a reminder before the due date when the company asks for one", async () => {
    const seeded = await seedInvoiceFollowup(database.db, {
      settings: { ...SWITCHED_ON, followups: { enable_relances_before: true, days_before_due: 3 } },
    });
    expect(await runFollowups(config, new Date("2026-02-26T09:00:00Z"))).toMatchObject({ sent: 0 });
    expect(await runFollowups(config, new Date("2026-02-27T09:00:00Z"))).toMatchObject({ sent: 1 });
    expect(smtp.receivedBy(seeded.clientEmail)[0]!.parsed.subject).toBe(`Rappel : échéance de la facture ${seeded.invoiceNumber} le 02/03/2026`);
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 1 });
    expect((await historyOf(database.db, seeded.followupId)).map((h) => h.step)).toEqual([1, 2]);
  });

  it("sends only inside business hours and on business days, in Paris time across the change to summer time", async () => {
    await seedInvoiceFollowup(database.db);
    expect(await runFollowups(config, new Date("2026-03-28T10:00:00Z"))).toMatchObject({ sent: 0, skippedByReason: { outside_sending_window: 1 } });
    // Monday 30 March, the first business day of summer time: 08:00 in Paris is 06:00 UTC.
    expect(await runFollowups(config, new Date("2026-03-30T05:59:00Z"))).toMatchObject({ sent: 0, skippedByReason: { outside_sending_window: 1 } });
    expect(await runFollowups(config, new Date("2026-03-30T06:00:00Z"))).toMatchObject({ sent: 1 });
  });

  it("follows the company's own time zone and hours", async () => {
    await seedInvoiceFollowup(database.db, {
      settings: { ...SWITCHED_ON, followups: { sending_window: { time_zone: "America/New_York", start: "09:00", end: "17:00" } } },
    });
    expect(await runFollowups(config, new Date("2026-03-10T12:00:00Z"))).toMatchObject({ sent: 0, skippedByReason: { outside_sending_window: 1 } });
    expect(await runFollowups(config, new Date("2026-03-10T13:00:00Z"))).toMatchObject({ sent: 1 });
  });

  it("sends a client at most one automatic email a day, the next one the following day", async () => {
    const companyId = await seedCompany(database.db);
    const client = await seedClient(database.db, companyId);
    const first = await seedInvoiceFollowup(database.db, { companyId, clientId: client.id, clientEmail: client.email });
    const second = await seedInvoiceFollowup(database.db, { companyId, clientId: client.id, clientEmail: client.email });

    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 1, skippedByReason: { client_already_contacted_today: 1 } });
    expect(await runFollowups(config, new Date("2026-03-09T16:00:00Z"))).toMatchObject({ sent: 0 });
    expect(await runFollowups(config, new Date("2026-03-10T07:00:00Z"))).toMatchObject({ sent: 1 });
    expect(await historyOf(database.db, first.followupId)).toHaveLength(1);
    expect(await historyOf(database.db, second.followupId)).toHaveLength(1);
    expect(smtp.receivedBy(client.email!)).toHaveLength(2);
  });
});

describe("dry run", () => {
  it("lists exactly what would be sent, to whom and with which subject, and sends and writes nothing", async () => {
    const companyId = await seedCompany(database.db);
    const due = await seedInvoiceFollowup(database.db, { companyId });
    const paid = await seedInvoiceFollowup(database.db, { companyId });
    await database.db.update(invoices).set({ status: "payée" }).where(eq(invoices.id, paid.invoiceId));
    const receivedBefore = smtp.received.length;

    const dry = await runFollowups(config, FIRST_DAY, { isDryRun: true });
    expect(dry).toMatchObject({ isDryRun: true, sent: 0, closed: 1 });
    expect(dry.wouldSend).toEqual([
      { followupId: due.followupId, step: 1, to: due.clientEmail, subject: `Relance : facture ${due.invoiceNumber} en attente de règlement` },
    ]);
    expect(smtp.received.length).toBe(receivedBefore);
    expect(await database.db.select().from(followupSendAttempts)).toEqual([]);
    expect(await database.db.select().from(followupHistory)).toEqual([]);
    expect(await database.db.select().from(conversations)).toEqual([]);
    expect(await statusOf(database.db, paid.followupId)).toBe("À faire");

    const real = await runFollowups(config, FIRST_DAY);
    expect(real).toMatchObject({ sent: 1 });
    expect(smtp.receivedBy(due.clientEmail)[0]!.parsed.subject).toBe(dry.wouldSend![0]!.subject);
  });
});

describe("the delivered email", () => {
  it("renders the company's template with every variable", async () => {
    const seeded = await seedInvoiceFollowup(database.db, {
      clientName: "Marie Curie",
      settings: {
        ...SWITCHED_ON,
        company_info: { phone: "01 23 45 67 89" },
        followups: {
          messages: [{
            type: "Facture impayée", method: "email", subject: "{document_number} : {days_overdue} jours de retard",
            content: "Bonjour {client_name},\n{source_label} de {amount} € échue le {due_date}.\n{company_name} – {company_phone}",
          }],
        },
      },
    });
    await runFollowups(config, new Date("2026-03-10T08:00:00Z"));
    const [mail] = smtp.receivedBy(seeded.clientEmail);
    expect(mail!.parsed.subject).toBe(`${seeded.invoiceNumber} : 8 jours de retard`);
    expect(mail!.parsed.text?.trim()).toBe(
      `Bonjour Marie Curie,\nFacture ${seeded.invoiceNumber} de 1\u00a0234,50 € échue le 02/03/2026.\nAtelier Durand – 01 23 45 67 89`,
    );
  });

  it("neutralises a client name carrying CR/LF and markup (header and script injection)", async () => {
    const seeded = await seedInvoiceFollowup(database.db, {
      clientName: "Eve\r\nBcc: victim@example.com\r\nX-Evil: 1\r\n\r\n<script>alert(1)</script>",
      settings: {
        ...SWITCHED_ON,
        followups: { messages: [{ type: "Facture impayée", method: "email", subject: "Pour {client_name}", content: "Bonjour {client_name}" }] },
      },
    });
    await runFollowups(config, FIRST_DAY);
    const [mail] = smtp.receivedBy(seeded.clientEmail);
    expect(mail!.envelope.to).toEqual([seeded.clientEmail]);
    expect(smtp.received.some((m) => m.envelope.to.includes("victim@example.com"))).toBe(false);
    expect(mail!.parsed.headers.has("bcc")).toBe(false);
    expect(mail!.parsed.headers.has("x-evil")).toBe(false);
    expect(mail!.parsed.subject).toBe("Pour Eve Bcc: victim@example.com X-Evil: 1 <script>alert(1)</script>");
    expect(mail!.parsed.html).not.toContain("<script>");
    expect(mail!.parsed.html).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });

  it("goes out through the company's own mailbox, logging in with its IMAP password when no SMTP password is set", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    await database.db.insert(inboxIntegrations).values({
      companyId: seeded.companyId, name: "Boîte principale", imapServer: "127.0.0.1", emailAddress: "facturation@durand.test",
      emailPassword: encryptSecret("imap-pass", { encryptionKey: TEST_ENCRYPTION_KEY }), isPrimary: true,
      smtpServer: smtp.host, smtpPort: smtp.port, smtpUseSsl: false, smtpUsername: "facturation",
    });
    smtp.requireAuth({ user: "facturation", password: "imap-pass" });
    try {
      expect(await runFollowups(testConfig(database), FIRST_DAY)).toMatchObject({ sent: 1, failed: 0 });
    } finally {
      smtp.requireAuth(undefined);
    }
    const [mail] = smtp.receivedBy(seeded.clientEmail);
    expect(mail!.envelope.from).toBe("facturation@durand.test");
    expect(mail!.messageId).toMatch(/@durand\.test>$/);
    const [message] = await database.db.select().from(inboxMessages);
    expect(message!.integrationId).not.toBeNull();
  });

  it("answers a bad settings JSON with the defaults, not a crash", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    await database.db
      .update(companySettings)
      .set({ settings: { ...SWITCHED_ON, followups: { relance_delays: "seven", max_relances: "many" } } })
      .where(eq(companySettings.companyId, seeded.companyId));
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 1 });
  });
});

describe("guard rails", () => {
  it("stops taking follow-ups before the run budget is spent and finishes them on the next pings, each once", async () => {
    const companyId = await seedCompany(database.db);
    const seeded = await Promise.all([1, 2, 3, 4, 5].map(() => seedInvoiceFollowup(database.db, { companyId })));
    const tight = testConfig(database, { ...smtp.env(), RUN_BUDGET_MS: "1000" });
    smtp.setAcceptDelay(400);
    const runs = [];
    try {
      for (let ping = 0; ping < 10; ping++) {
        const run = await runFollowups(tight, FIRST_DAY);
        runs.push(run);
        if (!run.remaining) break;
      }
    } finally {
      smtp.setAcceptDelay(0);
    }
    expect(runs[0]).toMatchObject({ remaining: true });
    expect(runs[0]!.sent).toBeLessThan(5);
    expect(runs.at(-1)).toMatchObject({ remaining: false });
    expect(runs.reduce((sum, r) => sum + r.sent, 0)).toBe(5);
    for (const s of seeded) expect(smtp.receivedBy(s.clientEmail)).toHaveLength(1);
  });

  it("never mails a client of another company named by a wrong client id", async () => {
    const seeded = await seedInvoiceFollowup(database.db);
    const otherCompany = await seedCompany(database.db);
    const stranger = await seedClient(database.db, otherCompany);
    await database.db.update(followups).set({ clientId: stranger.id }).where(eq(followups.id, seeded.followupId));
    expect(await runFollowups(config, FIRST_DAY)).toMatchObject({ sent: 0, skippedByReason: { no_client_email: 1 } });
    expect(smtp.receivedBy(stranger.email!)).toEqual([]);
  });
});
