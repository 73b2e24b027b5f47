// Five-field cron expressions (minute hour day-of-month month day-of-week, UTC, as Vercel and
// Netlify read them), for the self-hosted scheduler. Supports `*`, numbers, ranges `a-b`, lists
// `a,b` and steps `*/n` / `a-b/n`: what the product's own schedules use.

export interface CronExpression {
  source: string;
  /** True when the expression fires in the minute that contains `at` (UTC). */
  matches(at: Date): boolean;
}

const FIELD_RANGES: [min: number, max: number][] = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];

/** Parses an expression; throws with the offending field when it is not valid. */
export function parseCron(source: string): CronExpression {
  const fields = source.trim().split(/\s+/);
  if (fields.length !== 5) throw new Error(`cron expression "${source}" must have 5 fields`);
  const sets = fields.map((field, i) => parseField(field, FIELD_RANGES[i]!, source));
  const [minutes, hours, days, months, weekdays] = sets as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  // Day-of-week 7 is Sunday, like 0.
  if (weekdays.has(7)) weekdays.add(0);
  const isDayRestricted = fields[2] !== "*";
  const isWeekdayRestricted = fields[4] !== "*";
  return {
    source,
    matches(at) {
      if (!minutes.has(at.getUTCMinutes()) || !hours.has(at.getUTCHours()) || !months.has(at.getUTCMonth() + 1)) return false;
      const dayOk = days.has(at.getUTCDate());
      const weekdayOk = weekdays.has(at.getUTCDay());
      // POSIX rule: when both day fields are restricted, either one matching is enough.
      if (isDayRestricted && isWeekdayRestricted) return dayOk || weekdayOk;
      return dayOk && weekdayOk;
    },
  };
}

function parseField(field: string, [min, max]: [number, number], source: string): Set<number> {
  const values = new Set<number>();
  for (const part of field.split(",")) {
    const match = part.match(/^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/);
    if (!match) throw new Error(`cron expression "${source}": cannot read "${part}"`);
    const [, range, stepText] = match;
    const step = stepText ? Number(stepText) : 1;
    const [from, upTo] = range === "*" ? [min, max] : (range!.split("-").map(Number) as [number, number?]);
    const to = upTo ?? (stepText ? max : from);
    if (step < 1 || from < min || to > max || from > to) throw new Error(`cron expression "${source}": "${part}" is out of range`);
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}
