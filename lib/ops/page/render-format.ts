// How the operator's page writes dates, durations and run triggers, in French, on the operator's
// clock (OPERATOR_TIME_ZONE, Europe/Paris by default; the stored instants stay UTC). Every time
// shown carries its zone ("14:05 UTC+2"): an operator on call abroad must not guess.

import { html, type SafeHtml } from "../../http/html.js";

/** What every view needs to draw forms and dates. */
export interface RenderContext {
  /** Where forms post (the page's own path: /admin, or /api/admin behind a Vercel rewrite). */
  basePath: string;
  csrfToken: string;
  now: Date;
  dates: DateFormats;
}

/** The page's date formats in one time zone. */
export class DateFormats {
  readonly timeZone: string;
  private readonly dateTime: Intl.DateTimeFormat;
  private readonly hourOnly: Intl.DateTimeFormat;
  private readonly hourBare: Intl.DateTimeFormat;
  private readonly dayOnly: Intl.DateTimeFormat;

  constructor(timeZone: string) {
    this.timeZone = timeZone;
    const zoned = { timeZone, timeZoneName: "short" } as const;
    this.dateTime = new Intl.DateTimeFormat("fr-FR", { day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", ...zoned });
    this.hourOnly = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit", ...zoned });
    this.hourBare = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit", timeZone });
    this.dayOnly = new Intl.DateTimeFormat("fr-FR", { weekday: "short", day: "numeric", month: "short", timeZone });
  }

  /** "24/06/2026 14:05 UTC+2", or a dash. */
  date(at: Date | null | undefined): string {
    return at ? this.dateTime.format(at) : "—";
  }

  /** "14:05 UTC+2". */
  hour(at: Date): string {
    return this.hourOnly.format(at);
  }

  /** "14:05", for the charts' bars (their caption names the zone). */
  bareHour(at: Date): string {
    return this.hourBare.format(at);
  }

  /** "mer. 24 juin". */
  day(at: Date): string {
    return this.dayOnly.format(at);
  }
}

/** "il y a 3 h", "dans 12 min", "à l'instant" (within a minute). */
export function formatRelative(at: Date | null | undefined, now: Date): string {
  if (!at) return "";
  const deltaMs = at.getTime() - now.getTime();
  if (Math.abs(deltaMs) < 60_000) return "à l'instant";
  const text = formatDuration(Math.abs(deltaMs));
  return deltaMs < 0 ? `il y a ${text}` : `dans ${text}`;
}

/** 950 ms, 12 s, 5 min, 3 h, 2 j. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${Math.round(ms / 3_600_000)} h`;
  return `${Math.round(ms / 86_400_000)} j`;
}

/** A date with its relative form beside it (both visible: phones have no hover). */
export function dateWithRelative(at: Date | null | undefined, ctx: RenderContext): SafeHtml {
  return at ? html`<time datetime="${at.toISOString()}">${ctx.dates.date(at)}</time> <small>(${formatRelative(at, ctx.now)})</small>` : html`—`;
}

/** `n` and its noun, singular or plural: "1 boîte", "3 boîtes" (French: 0 takes the singular). */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n <= 1 ? singular : plural}`;
}

/** Who started a run, in the page's words. */
export const TRIGGER_LABELS: Record<string, string> = {
  http: "appel du cron (HTTP)",
  schedule: "planificateur",
  cli: "commande lokario-cron",
  operator: "bouton de cette page",
  push: "notification de nouveau message",
  test: "test automatisé",
};

export const triggerLabel = (trigger: string): string => TRIGGER_LABELS[trigger] ?? "autre";

/** A French error sentence (`wording`) with the error's own text as a second, smaller line. */
export function withDetail(wording: SafeHtml | string, detail: string | null | undefined): SafeHtml {
  return html`${wording}${detail ? html`<br><small class="detail">Détail : ${detail}</small>` : ""}`;
}
