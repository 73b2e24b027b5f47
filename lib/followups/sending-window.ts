// The company's sending window: automatic follow-ups leave only on its business days, between its
// opening and closing hours, read on the wall clock of its time zone (so 08:00 stays 08:00 across
// daylight-saving changes).

import { instantAt, wallTimeOf } from "./local-time.js";

/** When automatic emails may leave: local business days and hours of the company. */
export interface SendingWindow {
  timeZone: string;
  /** ISO weekdays, 1 = Monday … 7 = Sunday. */
  businessDays: number[];
  /** Minutes after local midnight: the window is [startMinute, endMinute). */
  startMinute: number;
  endMinute: number;
}

/** A week is enough: every business day appears in it. */
const DAYS_TO_SEARCH = 8;

/** True when `instant` is inside the window. */
export function isInsideWindow(instant: Date, window: SendingWindow): boolean {
  const wall = wallTimeOf(instant, window.timeZone);
  const minute = wall.hour * 60 + wall.minute;
  return window.businessDays.includes(wall.weekday) && minute >= window.startMinute && minute < window.endMinute;
}

/**
 * The first instant at or after `from` when the window is open: `from` itself when it is open,
 * else the next opening. Undefined only when the window has no business day at all.
 */
export function nextWindowOpening(from: Date, window: SendingWindow): Date | undefined {
  if (isInsideWindow(from, window)) return from;
  const today = wallTimeOf(from, window.timeZone);
  for (let plusDays = 0; plusDays < DAYS_TO_SEARCH; plusDays++) {
    const date = { year: today.year, month: today.month, day: today.day + plusDays };
    const opening = instantAt(window.timeZone, date, window.startMinute);
    if (opening.getTime() < from.getTime()) continue;
    if (isInsideWindow(opening, window)) return opening;
  }
  return undefined;
}
