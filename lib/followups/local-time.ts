// Wall-clock time in a company's time zone, from the platform's own time zone database
// (Intl.DateTimeFormat), so daylight-saving changes are handled without an extra dependency.

/** A local calendar date and time of day; `weekday` is ISO (1 = Monday … 7 = Sunday). */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

/** A local calendar date (month 1–12). Day may overflow: `{ day: 32 }` is the next month's 1st. */
export interface LocalDate {
  year: number;
  month: number;
  day: number;
}

const MS_PER_MINUTE = 60_000;
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formatters = new Map<string, Intl.DateTimeFormat>();

/** True when the platform knows `timeZone` (an IANA name such as "Europe/Paris"). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock reading of `instant` in `timeZone`. */
export function wallTimeOf(instant: Date, timeZone: string): WallTime {
  const parts: Record<string, string> = {};
  for (const part of formatterFor(timeZone).formatToParts(instant)) parts[part.type] = part.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS[parts.weekday ?? ""] ?? 1,
  };
}

/**
 * The instant at which the wall clock of `timeZone` shows `date` at `minuteOfDay`. A time skipped by
 * a spring-forward change (02:30 in Paris on the last Sunday of March) moves forward by the gap; a
 * time repeated by the autumn change resolves to one of its two occurrences.
 */
export function instantAt(timeZone: string, date: LocalDate, minuteOfDay = 0): Date {
  const asIfUtc = Date.UTC(date.year, date.month - 1, date.day, 0, minuteOfDay);
  const firstGuess = asIfUtc - offsetMs(timeZone, new Date(asIfUtc));
  const secondOffset = offsetMs(timeZone, new Date(firstGuess));
  return new Date(asIfUtc - secondOffset);
}

/** Local midnight of the day `instant` falls on, shifted by `plusDays` calendar days. */
export function startOfLocalDay(instant: Date, timeZone: string, plusDays = 0): Date {
  const wall = wallTimeOf(instant, timeZone);
  return instantAt(timeZone, { year: wall.year, month: wall.month, day: wall.day + plusDays });
}

/** True when both instants fall on the same calendar day in `timeZone`. */
export function isSameLocalDay(a: Date, b: Date, timeZone: string): boolean {
  const x = wallTimeOf(a, timeZone);
  const y = wallTimeOf(b, timeZone);
  return x.year === y.year && x.month === y.month && x.day === y.day;
}

/** Whole calendar days from the local day of `from` to the local day of `to` (negative if before). */
export function localDaysBetween(from: Date, to: Date, timeZone: string): number {
  const a = wallTimeOf(from, timeZone);
  const b = wallTimeOf(to, timeZone);
  return Math.round((Date.UTC(b.year, b.month - 1, b.day) - Date.UTC(a.year, a.month - 1, a.day)) / 86_400_000);
}

/** "dd/mm/yyyy" for the local day of `instant`, the way French invoices print dates. */
export function frenchDate(instant: Date, timeZone: string): string {
  const wall = wallTimeOf(instant, timeZone);
  return `${pad(wall.day)}/${pad(wall.month)}/${wall.year}`;
}

/** How far the wall clock of `timeZone` is ahead of UTC at `instant`. */
function offsetMs(timeZone: string, instant: Date): number {
  const wall = wallTimeOf(instant, timeZone);
  const wallAsUtc = Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
  const truncated = Math.floor(instant.getTime() / 1000) * 1000;
  return Math.round((wallAsUtc - truncated) / MS_PER_MINUTE) * MS_PER_MINUTE;
}

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
      weekday: "short",
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}
