// The follow-ups a run looks at: automatic ones not yet done, with their client's name and address,
// oldest first (a run cut short by its budget leaves the rest to the next ping, and those it sent
// are no longer due then, so nobody is starved).

import { and, asc, eq, ne } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { clients, FOLLOWUP_STATUS, FOLLOWUP_TYPE, followups } from "../db/schema.js";
import type { FollowupKind } from "./source-state.js";

export interface FollowupCandidate {
  id: number;
  companyId: number;
  clientId: number | null;
  type: string;
  kind: FollowupKind;
  sourceType: string;
  sourceId: number | null;
  sourceLabel: string | null;
  dueDate: Date | null;
  status: string;
  amount: string | null;
  isAutoEnabled: boolean;
  autoFrequencyDays: number | null;
  shouldStopOnResponse: boolean;
  clientName: string | null;
  clientEmail: string | null;
  clientPhone: string | null;
}

/** Every follow-up with `auto_enabled` whose status is not `Fait`. */
export async function selectCandidates(db: Db): Promise<FollowupCandidate[]> {
  const rows = await db
    .select({
      id: followups.id,
      companyId: followups.companyId,
      clientId: followups.clientId,
      type: followups.type,
      sourceType: followups.sourceType,
      sourceId: followups.sourceId,
      sourceLabel: followups.sourceLabel,
      dueDate: followups.dueDate,
      status: followups.status,
      amount: followups.amount,
      isAutoEnabled: followups.autoEnabled,
      autoFrequencyDays: followups.autoFrequencyDays,
      shouldStopOnResponse: followups.autoStopOnResponse,
      clientName: clients.name,
      clientEmail: clients.email,
      clientPhone: clients.phone,
    })
    .from(followups)
    // The client must belong to the same company: a wrong id must never mail another company's client.
    .leftJoin(clients, and(eq(clients.id, followups.clientId), eq(clients.companyId, followups.companyId)))
    .where(and(eq(followups.autoEnabled, true), ne(followups.status, FOLLOWUP_STATUS.done)))
    .orderBy(asc(followups.id));
  return rows.map((row) => ({ ...row, kind: kindOf(row.type, row.sourceType) }));
}

/** Invoice or quote by its source, else by its type (a follow-up typed by hand has no source). */
export function kindOf(type: string, sourceType: string): FollowupKind {
  if (sourceType === "invoice") return "invoice";
  if (sourceType === "quote") return "quote";
  if (type === FOLLOWUP_TYPE.unpaidInvoice) return "invoice";
  if (type === FOLLOWUP_TYPE.unansweredQuote) return "quote";
  return "other";
}
