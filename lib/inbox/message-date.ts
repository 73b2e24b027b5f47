// Chooses the date a message is filed under: its `Date` header, else the server's INTERNALDATE,
// else the import time. A date a client cannot have meant (years ahead, or before e-mail was
// common) would pin a spam message above everything else or bury a real one, so it is not used.

export type MessageDateSource = "header" | "internal-date" | "import-time";

/** Senders' clocks and time zones are often off by minutes or hours; more than a day is a lie. */
export const MAX_FUTURE_SKEW_MS = 24 * 60 * 60 * 1000;
/** Anything earlier is a broken clock (1970 from a zero timestamp, 1904 from old Macs…). */
export const EARLIEST_PLAUSIBLE_DATE = new Date("1980-01-01T00:00:00Z");

/** The date to file a message under, and where it came from. */
export function chooseMessageDate(
  dateHeader: string | null,
  internalDate: Date | null,
  now: Date,
): { date: Date; source: MessageDateSource } {
  const fromHeader = parseMailDate(dateHeader);
  if (fromHeader && isPlausible(fromHeader, now)) return { date: fromHeader, source: "header" };
  if (internalDate && isPlausible(internalDate, now)) return { date: internalDate, source: "internal-date" };
  return { date: now, source: "import-time" };
}

/** Parses an RFC 5322 date (obsolete forms and trailing comments included); null when unreadable. */
export function parseMailDate(value: string | null): Date | null {
  if (!value) return null;
  // Comments such as "(CET)" or "(Pacific Standard Time)" are not part of the date.
  const cleaned = value.replace(/\([^()]*\)/g, " ").replace(/\s+/g, " ").trim();
  if (!cleaned) return null;
  const parsed = new Date(cleaned);
  return Number.isNaN(parsed.getTime()) ? null : parsed;
}

function isPlausible(date: Date, now: Date): boolean {
  const ms = date.getTime();
  return !Number.isNaN(ms) && ms >= EARLIEST_PLAUSIBLE_DATE.getTime() && ms <= now.getTime() + MAX_FUTURE_SKEW_MS;
}
