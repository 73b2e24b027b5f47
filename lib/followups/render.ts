// Writes the email of one follow-up step: subject, text and HTML, from the company's template for
// the follow-up type (else the French default), with `{variable}` placeholders filled in.
//
// Safety: every value is flattened to one line (no CR, LF or other control character can reach a
// header), the subject is flattened again as a whole, and the HTML part escapes everything, template
// included (templates are plain text). Unknown placeholders are left as written, so a typo in a
// company's template shows in the preview instead of silently eating a word.

import type { FollowupChannelName } from "../db/schema.js";
import { defaultTemplateFor } from "./default-templates.js";
import { frenchDate, localDaysBetween } from "./local-time.js";
import type { CompanyInfo, FollowupTemplate } from "./settings.js";

export interface TemplateValues {
  clientName: string;
  sourceLabel: string;
  documentNumber?: string;
  amount?: number;
  dueDate?: Date;
  now: Date;
  timeZone: string;
  company: CompanyInfo;
}

/**
 * The values of one step's template, the same for every channel: the client, the source document,
 * the company. Built once per step; a channel that has a reply address adds it (withFallbackEmail).
 */
export function templateValuesOf(options: {
  candidate: { clientName: string | null; sourceLabel: string | null; type: string };
  source: { documentNumber?: string; amount?: number; dueDate?: Date };
  company: { name: string; settings: { companyInfo: CompanyInfo; sendingWindow: { timeZone: string } } };
  now: Date;
}): TemplateValues {
  const { candidate, source, company } = options;
  return {
    clientName: candidate.clientName ?? "",
    sourceLabel: candidate.sourceLabel ?? source.documentNumber ?? candidate.type,
    documentNumber: source.documentNumber,
    amount: source.amount,
    dueDate: source.dueDate,
    now: options.now,
    timeZone: company.settings.sendingWindow.timeZone,
    company: { ...company.settings.companyInfo, name: company.name },
  };
}

/** `values` with the company's address shown as `fallbackEmail` when its settings give none (an email's reply address). */
export function withFallbackEmail(values: TemplateValues, fallbackEmail: string): TemplateValues {
  return { ...values, company: { ...values.company, email: values.company.email ?? fallbackEmail } };
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

/** The variables a template may use. */
export const TEMPLATE_VARIABLES = [
  "client_name", "source_label", "document_number", "amount", "due_date", "days_overdue", "days_until_due",
  "company_name", "company_email", "company_phone", "company_address",
] as const;

const MAX_SUBJECT_LENGTH = 200;
const PLACEHOLDER = /\{([a-z_]+)\}/g;
const ONLY_PLACEHOLDERS = /^\s*(\{[a-z_]+\}\s*)+$/;
// C0 controls, DEL, and the Unicode line and paragraph separators.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f\u2028\u2029]+/g;

/**
 * The company's email template for `type`, or "sms" when the company chose SMS for it (the email
 * channel then sends nothing), or undefined when it has none.
 */
export function companyTemplateFor(templates: FollowupTemplate[], type: string): FollowupTemplate | "sms" | undefined {
  const forType = templates.filter((t) => t.type === type);
  const email = forType.find((t) => t.method === "email");
  if (email) return email;
  return forType.length > 0 ? "sms" : undefined;
}

/** The company's SMS template for `type`, when it chose SMS for it and has no email template. */
export function smsTemplateFor(templates: FollowupTemplate[], type: string): FollowupTemplate | undefined {
  const forType = templates.filter((t) => t.type === type);
  if (forType.some((t) => t.method === "email")) return undefined;
  return forType.find((t) => t.method === "sms");
}

/** How a follow-up of `type` reaches the client: by SMS when the company chose it, else by email. */
export function mediumOf(templates: FollowupTemplate[], type: string): FollowupChannelName {
  return smsTemplateFor(templates, type) ? "sms" : "email";
}

/** Renders the email for one step. */
export function renderFollowup(options: {
  type: string;
  isBeforeDue: boolean;
  template: FollowupTemplate | undefined;
  values: TemplateValues;
}): RenderedEmail {
  const fallback = defaultTemplateFor(options.type, options.isBeforeDue);
  const content = options.template?.content ?? fallback.content;
  const subjectTemplate = options.template?.subject?.trim() || fallback.subject;
  const values = variablesOf(options.values);
  const text = fillLines(content, values);
  return {
    subject: oneLine(fill(subjectTemplate, values)).slice(0, MAX_SUBJECT_LENGTH),
    text,
    html: toHtml(text),
  };
}

// Built once: constructing an Intl.NumberFormat costs more than rendering the rest of an email.
const FRENCH_AMOUNT = new Intl.NumberFormat("fr-FR", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** "1 234,50" (no-break space between thousands, comma before cents), as French invoices write it. */
export function frenchAmount(amount: number): string {
  return FRENCH_AMOUNT
    .format(amount)
    .replace(/\s/g, "\u00a0");
}

function variablesOf(v: TemplateValues): Record<string, string> {
  const daysFromDue = v.dueDate ? localDaysBetween(v.dueDate, v.now, v.timeZone) : undefined;
  const raw: Record<(typeof TEMPLATE_VARIABLES)[number], string> = {
    client_name: v.clientName,
    source_label: v.sourceLabel,
    document_number: v.documentNumber ?? v.sourceLabel,
    amount: v.amount === undefined ? "" : frenchAmount(v.amount),
    due_date: v.dueDate ? frenchDate(v.dueDate, v.timeZone) : "",
    days_overdue: daysFromDue === undefined ? "" : String(Math.max(0, daysFromDue)),
    days_until_due: daysFromDue === undefined ? "" : String(Math.max(0, -daysFromDue)),
    company_name: v.company.name ?? "",
    company_email: v.company.email ?? "",
    company_phone: v.company.phone ?? "",
    company_address: v.company.address ?? "",
  };
  return Object.fromEntries(Object.entries(raw).map(([k, value]) => [k, oneLine(value)]));
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => values[name] ?? whole);
}

/** Fills a body line by line, dropping lines that were only placeholders and came out empty. */
function fillLines(template: string, values: Record<string, string>): string {
  const lines: string[] = [];
  for (const line of template.replace(/\r\n?/g, "\n").split("\n")) {
    const filled = fill(line, values);
    if (ONLY_PLACEHOLDERS.test(line) && filled.trim() === "") continue;
    lines.push(filled.trimEnd());
  }
  return lines.join("\n").replace(/\n{3,}/g, "\n\n").trim();
}

function oneLine(value: string): string {
  return value.replace(CONTROL_CHARACTERS, " ").replace(/ {2,}/g, " ").trim();
}

function toHtml(text: string): string {
  const paragraphs = text
    .split(/\n{2,}/)
    .map((p) => `<p>${p.split("\n").map(escapeHtml).join("<br>\n")}</p>`);
  return `<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"></head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 14px; line-height: 1.5; color: #222;">
${paragraphs.join("\n")}
</body></html>`;
}

function escapeHtml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}
