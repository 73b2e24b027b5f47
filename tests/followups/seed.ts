// Rows the follow-up tests start from (what the Lokario app would have created: a company with its
// settings, a client, an invoice or quote, and the follow-up chasing it), and a way to run the job
// at a chosen instant.

import { eq } from "drizzle-orm";
import type { Config } from "../../lib/config.js";
import type { Db } from "../../lib/db/client.js";
import {
  clients,
  companies,
  companySettings,
  FOLLOWUP_TYPE,
  followupHistory,
  followups,
  followupSendAttempts,
  INVOICE_STATUS,
  invoices,
  QUOTE_STATUS,
  quotes,
} from "../../lib/db/schema.js";
import { processAutomaticJob, type FollowupSummary } from "../../lib/followups/process-automatic.js";
import { type RunResult, runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { expect } from "vitest";
import { startCli } from "../endpoints/run-cli.js";
import type { TestDatabase } from "../support/databases.js";
import { testEnv } from "../support/config.js";
import { waitFor } from "../support/ports.js";

/** Follow-ups on for both kinds, everything else at its default. */
export const SWITCHED_ON = { billing: { auto_followups: { invoices_enabled: true, quotes_enabled: true } } };

/** Monday 2 March 2026, 00:00 in Paris (UTC+1 in winter): the invoices' due date. */
export const DUE_DATE = new Date("2026-03-01T23:00:00Z");

let counter = 0;
const unique = () => `${Date.now().toString(36)}${(counter++).toString(36)}`;

export interface SeededInvoiceFollowup {
  companyId: number;
  clientId: number;
  invoiceId: number;
  followupId: number;
  clientEmail: string;
  invoiceNumber: string;
}

export async function seedCompany(db: Db, settings: unknown = SWITCHED_ON, name = "Atelier Durand"): Promise<number> {
  const [company] = await db.insert(companies).values({ name }).returning({ id: companies.id });
  await db.insert(companySettings).values({ companyId: company!.id, settings });
  return company!.id;
}

export async function seedClient(db: Db, companyId: number, values: { name?: string; email?: string | null } = {}): Promise<{ id: number; email: string | null }> {
  const email = values.email === undefined ? `client-${unique()}@example.com` : values.email;
  const [client] = await db
    .insert(clients)
    .values({ companyId, name: values.name ?? "Marie Curie", email })
    .returning({ id: clients.id });
  return { id: client!.id, email };
}

/** An unpaid invoice of 1 234,50 € due on DUE_DATE, and its automatic follow-up. */
export async function seedInvoiceFollowup(
  db: Db,
  options: {
    companyId?: number;
    settings?: unknown;
    clientId?: number;
    clientName?: string;
    clientEmail?: string | null;
    dueDate?: Date;
    invoiceStatus?: string;
    autoFrequencyDays?: number;
    autoStopOnResponse?: boolean;
  } = {},
): Promise<SeededInvoiceFollowup> {
  const companyId = options.companyId ?? (await seedCompany(db, options.settings ?? SWITCHED_ON));
  const client = options.clientId
    ? { id: options.clientId, email: options.clientEmail ?? null }
    : await seedClient(db, companyId, { name: options.clientName, email: options.clientEmail });
  const number = `FAC-2026-${unique()}`;
  const dueDate = options.dueDate ?? DUE_DATE;
  const [invoice] = await db
    .insert(invoices)
    .values({
      companyId, clientId: client.id, number, status: options.invoiceStatus ?? INVOICE_STATUS.sent,
      totalTtc: "1234.50", amount: "1028.75", dueDate,
    })
    .returning({ id: invoices.id });
  const [followup] = await db
    .insert(followups)
    .values({
      companyId, clientId: client.id, type: FOLLOWUP_TYPE.unpaidInvoice, sourceType: "invoice", sourceId: invoice!.id,
      sourceLabel: `Facture ${number}`, dueDate, amount: "1234.50", autoEnabled: true,
      autoFrequencyDays: options.autoFrequencyDays ?? null, autoStopOnResponse: options.autoStopOnResponse ?? true,
    })
    .returning({ id: followups.id });
  return { companyId, clientId: client.id, invoiceId: invoice!.id, followupId: followup!.id, clientEmail: client.email ?? "", invoiceNumber: number };
}

/** A quote sent and waiting for an answer, valid until `validUntil`, and its follow-up. */
export async function seedQuoteFollowup(db: Db, companyId: number, validUntil: Date): Promise<{ quoteId: number; followupId: number; clientEmail: string }> {
  const client = await seedClient(db, companyId);
  const number = `DEV-2026-${unique()}`;
  const [quote] = await db
    .insert(quotes)
    .values({ companyId, clientId: client.id, number, status: QUOTE_STATUS.sent, totalTtc: "980.00", validUntil })
    .returning({ id: quotes.id });
  const [followup] = await db
    .insert(followups)
    .values({
      companyId, clientId: client.id, type: FOLLOWUP_TYPE.unansweredQuote, sourceType: "quote", sourceId: quote!.id,
      sourceLabel: `Devis ${number}`, dueDate: validUntil, autoEnabled: true,
    })
    .returning({ id: followups.id });
  return { quoteId: quote!.id, followupId: followup!.id, clientEmail: client.email! };
}

/** A manual follow-up recorded by a user at `sentAt`. */
export async function recordManualSend(db: Db, followupId: number, companyId: number, sentAt: Date): Promise<void> {
  await db.insert(followupHistory).values({
    followupId, companyId, message: "Relance par téléphone", messageType: "email", status: "envoyé",
    sentByName: "Jeanne", sentAt, isAutomatic: false,
  });
}

/** Runs the follow-up job once, with the business clock stopped at `now`. */
export function runFollowups(config: Config, now: Date, params: { isDryRun?: boolean } = {}): Promise<RunResult<FollowupSummary>> {
  return runJob(processAutomaticJob, { isDryRun: params.isDryRun ?? false }, {
    config, log: createLogger("test", { level: "silent" }), trigger: "test", now: () => now,
  });
}

export async function historyOf(db: Db, followupId: number) {
  return db.select().from(followupHistory).where(eq(followupHistory.followupId, followupId)).orderBy(followupHistory.id);
}

export async function attemptsOf(db: Db, followupId: number) {
  return db.select().from(followupSendAttempts).where(eq(followupSendAttempts.followupId, followupId)).orderBy(followupSendAttempts.step);
}

export async function statusOf(db: Db, followupId: number): Promise<string | undefined> {
  const [row] = await db.select({ status: followups.status }).from(followups).where(eq(followups.id, followupId));
  return row?.status;
}

/**
 * Starts `lokario-cron followups run` on `database` with `env`, waits for `isMidSend`, then kills
 * it with SIGKILL; returns when it was started. Sends time out after a minute, so none ends on its
 * own while the test holds it.
 */
export async function killFollowupRunWhen(database: TestDatabase, env: Record<string, string>, isMidSend: () => Promise<boolean>): Promise<Date> {
  const startedAt = new Date();
  const { child, result } = startCli(["followups", "run"], testEnv(database, { ...env, SMTP_TIMEOUT_MS: "60000", SMS_TIMEOUT_MS: "60000", LOG_LEVEL: "warn" }));
  try {
    await waitFor("the run to reach the send", isMidSend, 30_000);
  } finally {
    child.kill("SIGKILL");
  }
  expect((await result).code).toBeNull();
  return startedAt;
}
