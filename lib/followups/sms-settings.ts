// A company's SMS settings, `company_settings.settings.sms`: its account and sender name
// (lib/sms/sms-account-settings.ts) and when its texts may leave:
//   sending_window   like followups.sending_window; the default is stricter than for email:
//                    Monday to Saturday, never Sunday, 09:00–19:00 and within the email window,
//                    as French operators' code of practice asks for texts to consumers

import { parseSmsAccountSettings, type SmsAccountSettings } from "../sms/sms-account-settings.js";
import type { SendingWindow } from "./sending-window.js";

export interface CompanySmsSettings extends SmsAccountSettings {
  /** Undefined: derived from the email window (smsWindowOf). */
  sendingWindow?: SendingWindow;
}

const SMS_DAYS = [1, 2, 3, 4, 5, 6];
const SMS_START_MINUTE = 9 * 60;
const SMS_END_MINUTE = 19 * 60;

/**
 * Reads `raw` (the `sms` object). The window is read by the caller's `readWindow` so that both
 * windows accept the same format.
 */
export function parseSmsSettings(
  raw: unknown,
  warnings: string[],
  readWindow: (path: string[]) => SendingWindow | undefined,
): CompanySmsSettings {
  const account = parseSmsAccountSettings(raw, warnings);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return account;
  const window = (raw as Record<string, unknown>).sending_window;
  return { ...account, sendingWindow: window === undefined ? undefined : readWindow(["sms", "sending_window"]) };
}

/** The SMS window: the company's own, else the email window narrowed to Mon–Sat, 09:00–19:00. */
export function smsWindowOf(sms: CompanySmsSettings, emailWindow: SendingWindow): SendingWindow {
  if (sms.sendingWindow) return sms.sendingWindow;
  return {
    timeZone: emailWindow.timeZone,
    businessDays: emailWindow.businessDays.filter((day) => SMS_DAYS.includes(day)),
    startMinute: Math.max(emailWindow.startMinute, SMS_START_MINUTE),
    endMinute: Math.max(Math.min(emailWindow.endMinute, SMS_END_MINUTE), Math.max(emailWindow.startMinute, SMS_START_MINUTE)),
  };
}
