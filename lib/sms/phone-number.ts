// Clients' phone numbers as French users type them ("06 12 34 56 78", "+33 6 12…", "0033 6…", with
// dots or dashes), read with libphonenumber's metadata into E.164. Only a mobile number (or one the
// metadata cannot tell from a mobile) gets an SMS: a landline or an unreadable value is skipped
// with its reason, never replaced by another number.

import { parsePhoneNumberFromString } from "libphonenumber-js/max";

export type PhoneSkipReason = "no_client_phone" | "phone_unreadable" | "phone_not_mobile";

export type MobileNumber = { e164: string } | { unusable: PhoneSkipReason };

/** Numbers written without a country code are read as French ones. */
const DEFAULT_COUNTRY = "FR";
/** Types that can receive an SMS; FIXED_LINE_OR_MOBILE is how the metadata tags ambiguous ranges. */
const TEXTABLE_TYPES = new Set(["MOBILE", "FIXED_LINE_OR_MOBILE"]);

/** The E.164 form of `raw` when it is a valid mobile number, else why it cannot be texted. */
export function mobileNumberOf(raw: string | null | undefined): MobileNumber {
  const typed = raw?.trim();
  if (!typed) return { unusable: "no_client_phone" };
  // "0033 6 12…" is the international prefix dialled from France: the library wants "+33".
  const normalized = typed.replace(/^00(?=[1-9])/, "+");
  const parsed = parsePhoneNumberFromString(normalized, DEFAULT_COUNTRY);
  if (!parsed || !parsed.isValid()) return { unusable: "phone_unreadable" };
  const type = parsed.getType();
  if (!type || !TEXTABLE_TYPES.has(type)) return { unusable: "phone_not_mobile" };
  return { e164: parsed.number };
}
