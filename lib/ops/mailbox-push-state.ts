// How new mail reaches the product for one mailbox: the transport it is read through, and whether
// its provider pushes a notice when mail arrives (a Graph subscription per folder, a Gmail watch)
// or it is only polled. Decided here, once, from the mailbox's transport and its push rows; the
// operator's page words it.

import type { MailTransport, PushProvider } from "../db/schema.js";

/** The push rows of one mailbox, as the page reads them (`mail_push_subscriptions`). */
export interface PushRow {
  provider: PushProvider;
  folder: string;
  state: "active" | "refused" | "removed";
  expiresAt: Date | null;
  lastError: string | null;
  lastNotifiedAt: Date | null;
}

/**
 * - `active`: every pushed folder has a live subscription, until `activeUntil` (the earliest expiry);
 * - `refused`: the provider declined at least one (`reason`, in the operator's words): polled;
 * - `expired`: a subscription lapsed (the product was down when it was due): the next run renews it;
 * - `none`: no subscription yet (push not configured, or the next run makes it): polled;
 * - `not-offered`: a transport without push (IMAP): polled.
 */
export type PushStateCode = "active" | "refused" | "expired" | "none" | "not-offered";

export interface PushState {
  code: PushStateCode;
  activeUntil: Date | null;
  reason: string | null;
  lastNotifiedAt: Date | null;
}

/** The push provider of each transport that has one. */
const PUSH_PROVIDER_OF: Partial<Record<MailTransport, PushProvider>> = { graph: "graph", "gmail-api": "gmail" };

/** The push state of a mailbox read through `transport`, with its push `rows`, at `now`. */
export function pushStateOf(transport: MailTransport, rows: readonly PushRow[], now: Date): PushState {
  const provider = PUSH_PROVIDER_OF[transport];
  if (!provider) return { code: "not-offered", activeUntil: null, reason: null, lastNotifiedAt: null };
  const own = rows.filter((r) => r.provider === provider && r.state !== "removed");
  const lastNotifiedAt = latest(own.map((r) => r.lastNotifiedAt));
  const refused = own.find((r) => r.state === "refused");
  if (refused) return { code: "refused", activeUntil: null, reason: refused.lastError, lastNotifiedAt };
  if (own.length === 0) return { code: "none", activeUntil: null, reason: null, lastNotifiedAt };
  const expiries = own.map((r) => r.expiresAt?.getTime() ?? 0);
  const earliest = Math.min(...expiries);
  if (earliest <= now.getTime()) return { code: "expired", activeUntil: null, reason: null, lastNotifiedAt };
  return { code: "active", activeUntil: new Date(earliest), reason: null, lastNotifiedAt };
}

function latest(dates: (Date | null)[]): Date | null {
  const times = dates.filter((d): d is Date => d !== null).map((d) => d.getTime());
  return times.length ? new Date(Math.max(...times)) : null;
}
