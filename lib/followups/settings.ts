// Reads a company's follow-up settings out of `company_settings.settings` (JSON written by the app).
// Every key has a default; a bad value falls back to its default with a warning, never a crash, so
// one company's typo cannot stop the job for the others.
//
// Keys (data contract, plus the sending window and the company details this job adds):
//   billing.auto_followups.invoices_enabled / quotes_enabled   false
//   followups.relance_delays            [7, 14, 21]  days: 1st after the due date, then between sends
//   followups.max_relances              3            sends at most, manual ones included
//   followups.enable_relances_before    false        one reminder before the due date
//   followups.days_before_due | hours_before_due     how long before (days win when both are set)
//   followups.messages                  []           [{ type, content, method: "email"|"sms", subject? }]
//   followups.sending_window            { time_zone: "Europe/Paris", business_days: [1,2,3,4,5]
//                                         (ISO, 1 = Monday), start: "08:00", end: "19:00" }
//   company_info                        { name, email, phone, address } for the template variables

import { z } from "zod";
import type { SendingLimits } from "../mail/known-providers.js";
import { isKnownTimeZone } from "./local-time.js";
import type { SendingWindow } from "./sending-window.js";
import { type CompanySmsSettings, parseSmsSettings } from "./sms-settings.js";

export type TemplateMethod = "email" | "sms";

/** A company's own wording for one follow-up type. */
export interface FollowupTemplate {
  type: string;
  content: string;
  method: TemplateMethod;
  subject?: string;
}

export interface CompanyInfo {
  name?: string;
  email?: string;
  phone?: string;
  address?: string;
}

export interface FollowupSettings {
  isInvoiceFollowupEnabled: boolean;
  isQuoteFollowupEnabled: boolean;
  relanceDelaysDays: number[];
  maxRelances: number;
  isBeforeDueEnabled: boolean;
  daysBeforeDue?: number;
  hoursBeforeDue?: number;
  templates: FollowupTemplate[];
  sendingWindow: SendingWindow;
  companyInfo: CompanyInfo;
  /** The company's SMS settings (sms-settings.ts). */
  sms: CompanySmsSettings;
  /**
   * `followups.sending_limits` ({ per_minute, per_hour, per_day }): what the company's own mailbox
   * may send, over its provider's known limits (lib/mail/known-providers.ts), each field apart.
   */
  sendingLimits?: SendingLimits;
}

export interface ParsedSettings {
  settings: FollowupSettings;
  /** One line per value that was ignored, naming the key (never the value). */
  warnings: string[];
}

export const DEFAULT_RELANCE_DELAYS_DAYS = [7, 14, 21];
export const DEFAULT_MAX_RELANCES = 3;
export const DEFAULT_SENDING_WINDOW: SendingWindow = {
  timeZone: "Europe/Paris",
  businessDays: [1, 2, 3, 4, 5],
  startMinute: 8 * 60,
  endMinute: 19 * 60,
};

const flag = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);
/** A whole number, also accepted as digits in a string (forms often store "7"). */
const wholeNumber = (min: number, max: number) =>
  z
    .union([z.number(), z.string().regex(/^\s*\d+\s*$/).transform(Number)])
    .pipe(z.number().int().min(min).max(max));
const delays = z.array(wholeNumber(0, 365)).min(1).max(20);
const clockTime = z
  .string()
  .regex(/^([01]?\d|2[0-4]):[0-5]\d$/)
  .transform((v) => Number(v.split(":")[0]) * 60 + Number(v.split(":")[1]))
  .refine((minutes) => minutes <= 24 * 60);
const template = z.object({
  type: z.string().min(1),
  content: z.string().min(1),
  method: z.enum(["email", "sms"]).default("email"),
  subject: z.string().optional(),
});
const text = z.string().max(500);

/** Parses `company_settings.settings`; never throws. */
export function parseFollowupSettings(raw: unknown): ParsedSettings {
  const warnings: string[] = [];
  const root = objectAt(raw, [], warnings);
  const read = <T>(path: string[], schema: z.ZodType<T>, fallback: T): T => {
    const value = valueAt(root, path);
    if (value === undefined || value === null) return fallback;
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    warnings.push(`settings.${path.join(".")} is invalid: using the default`);
    return fallback;
  };

  const settings: FollowupSettings = {
    isInvoiceFollowupEnabled: read(["billing", "auto_followups", "invoices_enabled"], flag, false),
    isQuoteFollowupEnabled: read(["billing", "auto_followups", "quotes_enabled"], flag, false),
    relanceDelaysDays: read(["followups", "relance_delays"], delays, DEFAULT_RELANCE_DELAYS_DAYS),
    maxRelances: read(["followups", "max_relances"], wholeNumber(1, 50), DEFAULT_MAX_RELANCES),
    isBeforeDueEnabled: read(["followups", "enable_relances_before"], flag, false),
    daysBeforeDue: read<number | undefined>(["followups", "days_before_due"], wholeNumber(0, 365), undefined),
    hoursBeforeDue: read<number | undefined>(["followups", "hours_before_due"], wholeNumber(0, 24 * 365), undefined),
    templates: readTemplates(valueAt(root, ["followups", "messages"]), warnings),
    sendingWindow: readWindow(root, read, warnings),
    companyInfo: {
      name: read<string | undefined>(["company_info", "name"], text, undefined),
      email: read<string | undefined>(["company_info", "email"], text, undefined),
      phone: read<string | undefined>(["company_info", "phone"], text, undefined),
      address: read<string | undefined>(["company_info", "address"], text, undefined),
    },
    sms: parseSmsSettings(valueAt(root, ["sms"]), warnings, (path) => readWindow(root, read, warnings, path)),
    sendingLimits: readSendingLimits(read),
  };
  return { settings, warnings };
}

type Reader = <T>(path: string[], schema: z.ZodType<T>, fallback: T) => T;

/** `followups.sending_limits`, each field read apart (a bad one is reported and ignored alone); undefined when none is set. */
function readSendingLimits(read: Reader): SendingLimits | undefined {
  const field = (name: string) => read<number | undefined>(["followups", "sending_limits", name], wholeNumber(1, 1_000_000), undefined);
  const limits = { perMinute: field("per_minute"), perHour: field("per_hour"), perDay: field("per_day") };
  return Object.values(limits).some((v) => v !== undefined) ? limits : undefined;
}

function readWindow(root: Record<string, unknown>, read: Reader, warnings: string[], base = ["followups", "sending_window"]): SendingWindow {
  const timeZone = read(
    [...base, "time_zone"],
    z.string().refine(isKnownTimeZone),
    DEFAULT_SENDING_WINDOW.timeZone,
  );
  const businessDays = read(
    [...base, "business_days"],
    z.array(wholeNumber(1, 7)).min(1).max(7).transform((days) => [...new Set(days)].sort()),
    DEFAULT_SENDING_WINDOW.businessDays,
  );
  let startMinute = read([...base, "start"], clockTime, DEFAULT_SENDING_WINDOW.startMinute);
  let endMinute = read([...base, "end"], clockTime, DEFAULT_SENDING_WINDOW.endMinute);
  if (endMinute <= startMinute && valueAt(root, base) !== undefined) {
    warnings.push(`settings.${base.join(".")} ends before it starts: using 08:00–19:00`);
    startMinute = DEFAULT_SENDING_WINDOW.startMinute;
    endMinute = DEFAULT_SENDING_WINDOW.endMinute;
  }
  return { timeZone, businessDays, startMinute, endMinute };
}

/** Keeps the well-formed templates and drops the others one by one. */
function readTemplates(value: unknown, warnings: string[]): FollowupTemplate[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    warnings.push("settings.followups.messages is not a list: using the default wording");
    return [];
  }
  const templates: FollowupTemplate[] = [];
  value.forEach((item, index) => {
    const parsed = template.safeParse(item);
    if (parsed.success) templates.push(parsed.data);
    else warnings.push(`settings.followups.messages[${index}] is invalid: ignored`);
  });
  return templates;
}

function objectAt(value: unknown, path: string[], warnings: string[]): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  warnings.push(`settings${path.length ? `.${path.join(".")}` : ""} is not an object: using the defaults`);
  return {};
}

function valueAt(root: Record<string, unknown>, path: string[]): unknown {
  let current: unknown = root;
  for (const key of path) {
    if (current === null || typeof current !== "object" || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
