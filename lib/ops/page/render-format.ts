// How the operator's page writes dates, durations and the jobs' reason codes, in French, on the
// Paris clock (the app's users are in France; the stored instants stay UTC).

import { html, type SafeHtml } from "./html.js";

const PARIS = "Europe/Paris";
const dateTime = new Intl.DateTimeFormat("fr-FR", { dateStyle: "short", timeStyle: "short", timeZone: PARIS });
const hourOnly = new Intl.DateTimeFormat("fr-FR", { hour: "2-digit", minute: "2-digit", timeZone: PARIS });
const dayOnly = new Intl.DateTimeFormat("fr-FR", { weekday: "short", day: "numeric", month: "short", timeZone: PARIS });

/** What every view needs to draw forms and relative dates. */
export interface RenderContext {
  /** Where forms post (the page's own path: /admin, or /api/admin behind a Vercel rewrite). */
  basePath: string;
  csrfToken: string;
  now: Date;
}

export function formatDate(at: Date | null | undefined): string {
  return at ? dateTime.format(at) : "—";
}

export const formatHour = (at: Date): string => hourOnly.format(at);
export const formatDay = (at: Date): string => dayOnly.format(at);

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

/** A date with its relative form in a tooltip-free way (both visible: phones have no hover). */
export function dateWithRelative(at: Date | null | undefined, now: Date): SafeHtml {
  return at ? html`<time datetime="${at.toISOString()}">${formatDate(at)}</time> <small>(${formatRelative(at, now)})</small>` : html`—`;
}

/** The follow-up job's reason codes (README, "Follow-ups are not sent"), in the app's words. */
export const REASON_LABELS: Record<string, string> = {
  company_switch_off: "relances automatiques désactivées pour l'entreprise",
  auto_disabled: "relance non automatique",
  already_done: "déjà faite",
  not_due_yet: "pas encore le jour",
  outside_sending_window: "hors de la plage d'envoi (part à la prochaine ouverture)",
  no_business_days: "plage d'envoi sans aucun jour",
  client_already_contacted_today: "client déjà relancé aujourd'hui",
  source_draft: "facture ou devis encore en brouillon",
  no_due_date: "pas d'échéance",
  no_client_email: "pas d'adresse e-mail utilisable pour le client",
  no_smtp_configured: "aucun serveur d'envoi configuré",
  smtp_password_unreadable: "mot de passe d'envoi illisible (clé de chiffrement)",
  smtp_unavailable: "serveur d'envoi indisponible pendant ce passage",
  sms_not_supported: "modèle en SMS (non pris en charge)",
  send_in_progress: "envoi en cours dans un autre passage",
  previous_send_failed: "envoi précédent refusé définitivement",
  previous_send_uncertain: "envoi incertain à trancher (ci-dessous)",
  invoice_paid: "facture payée",
  invoice_cancelled: "facture annulée",
  quote_accepted: "devis accepté",
  quote_refused: "devis refusé",
  quote_signed: "devis signé",
  source_deleted: "facture ou devis supprimé",
  client_replied: "le client a répondu",
  max_relances_reached: "nombre maximal de relances atteint",
};

export const reasonLabel = (code: string): string => REASON_LABELS[code] ?? code;
