// Re-reads the document a follow-up chases (its invoice or quote) at send time: a payment or a
// signature recorded a minute ago must stop the email, and the amount and due date printed in it
// must be today's, not those copied into the follow-up when it was created.

import { and, eq, inArray } from "drizzle-orm";
import type { Db, DbOrTx } from "../db/client.js";
import { INVOICE_STATUS, invoices, QUOTE_STATUS, quotes } from "../db/schema.js";

/** What a follow-up chases: an invoice, a quote, or something typed by hand. */
export type FollowupKind = "invoice" | "quote" | "other";

export type SourceCloseReason =
  | "invoice_paid"
  | "invoice_cancelled"
  | "quote_accepted"
  | "quote_refused"
  | "quote_signed"
  | "source_deleted";

/** What the source says now: settled (close the follow-up), still a draft, or open with fresh figures. */
export type SourceState =
  | { state: "closed"; reason: SourceCloseReason }
  | { state: "draft" }
  | { state: "open"; dueDate?: Date; amount?: number; documentNumber?: string };

/** The follow-up columns the source state falls back on. */
export interface FollowupSource {
  companyId: number;
  kind: FollowupKind;
  sourceType: string;
  sourceId: number | null;
  dueDate: Date | null;
  amount: string | null;
}

type InvoiceRow = Pick<typeof invoices.$inferSelect, "number" | "status" | "totalTtc" | "amount" | "dueDate" | "paidAt">;
type QuoteRow = Pick<
  typeof quotes.$inferSelect,
  "number" | "status" | "totalTtc" | "amount" | "validUntil" | "acceptedAt" | "refusedAt" | "clientSignaturePath"
>;

/** Reads the source document (same company only) and says what it means for the follow-up. */
export async function readSourceState(db: DbOrTx, followup: FollowupSource): Promise<SourceState> {
  if (followup.sourceId === null) return sourceStateOf(followup, undefined);
  if (followup.sourceType === "invoice") {
    const [row] = await db
      .select()
      .from(invoices)
      .where(and(eq(invoices.id, followup.sourceId), eq(invoices.companyId, followup.companyId)));
    return sourceStateOf(followup, { type: "invoice", row });
  }
  if (followup.sourceType === "quote") {
    const [row] = await db
      .select()
      .from(quotes)
      .where(and(eq(quotes.id, followup.sourceId), eq(quotes.companyId, followup.companyId)));
    return sourceStateOf(followup, { type: "quote", row });
  }
  return sourceStateOf(followup, undefined);
}

/**
 * The source states of many follow-ups at once (two queries, whatever their number), keyed by
 * follow-up id: what a run reads just before sending a batch.
 */
export async function readSourceStates<F extends FollowupSource & { id: number }>(db: Db, followups: F[]): Promise<Map<number, SourceState>> {
  const idsOf = (type: string) => [...new Set(followups.filter((f) => f.sourceType === type && f.sourceId !== null).map((f) => f.sourceId!))];
  const invoiceIds = idsOf("invoice");
  const quoteIds = idsOf("quote");
  const [invoiceRows, quoteRows] = await Promise.all([
    invoiceIds.length === 0 ? [] : db.select().from(invoices).where(inArray(invoices.id, invoiceIds)),
    quoteIds.length === 0 ? [] : db.select().from(quotes).where(inArray(quotes.id, quoteIds)),
  ]);
  const invoiceById = new Map(invoiceRows.map((row) => [row.id, row]));
  const quoteById = new Map(quoteRows.map((row) => [row.id, row]));
  const states = new Map<number, SourceState>();
  for (const followup of followups) {
    // Same company only, as readSourceState's query says: another company's document is no source.
    const sameCompany = <R extends { companyId: number }>(row: R | undefined) => (row?.companyId === followup.companyId ? row : undefined);
    const source =
      followup.sourceId === null
        ? undefined
        : followup.sourceType === "invoice"
          ? { type: "invoice" as const, row: sameCompany(invoiceById.get(followup.sourceId)) }
          : followup.sourceType === "quote"
            ? { type: "quote" as const, row: sameCompany(quoteById.get(followup.sourceId)) }
            : undefined;
    states.set(followup.id, sourceStateOf(followup, source));
  }
  return states;
}

/** The pure part: a source row (or its absence) turned into a state. */
export function sourceStateOf(
  followup: FollowupSource,
  source: { type: "invoice"; row: InvoiceRow | undefined } | { type: "quote"; row: QuoteRow | undefined } | undefined,
): SourceState {
  const fallbackAmount = toAmount(followup.amount);
  const fallbackDue = followup.dueDate ?? undefined;
  if (!source) return { state: "open", dueDate: fallbackDue, amount: fallbackAmount };
  // A source id that points nowhere: the document was deleted, there is nothing left to chase.
  if (!source.row) return { state: "closed", reason: "source_deleted" };
  if (source.type === "invoice") {
    const invoice = source.row;
    if (invoice.status === INVOICE_STATUS.paid || invoice.paidAt) return { state: "closed", reason: "invoice_paid" };
    if (invoice.status === INVOICE_STATUS.cancelled) return { state: "closed", reason: "invoice_cancelled" };
    if (invoice.status === INVOICE_STATUS.draft) return { state: "draft" };
    return {
      state: "open",
      dueDate: invoice.dueDate ?? fallbackDue,
      amount: toAmount(invoice.totalTtc) ?? toAmount(invoice.amount) ?? fallbackAmount,
      documentNumber: invoice.number,
    };
  }
  const quote = source.row;
  if (quote.clientSignaturePath) return { state: "closed", reason: "quote_signed" };
  if (quote.status === QUOTE_STATUS.accepted || quote.acceptedAt) return { state: "closed", reason: "quote_accepted" };
  if (quote.status === QUOTE_STATUS.refused || quote.refusedAt) return { state: "closed", reason: "quote_refused" };
  if (quote.status === QUOTE_STATUS.draft) return { state: "draft" };
  return {
    state: "open",
    dueDate: quote.validUntil ?? fallbackDue,
    amount: toAmount(quote.totalTtc) ?? toAmount(quote.amount) ?? fallbackAmount,
    documentNumber: quote.number,
  };
}

/** `numeric` columns arrive as strings ("1234.50"); null and garbage become undefined. */
function toAmount(value: string | null): number | undefined {
  if (value === null) return undefined;
  const amount = Number(value);
  return Number.isFinite(amount) ? amount : undefined;
}
