// Reading company_settings.settings: the data-contract defaults, the sending window this job adds,
// and bad values falling back to defaults with a warning instead of crashing the run.

import { describe, expect, it } from "vitest";
import { DEFAULT_SENDING_WINDOW, parseFollowupSettings } from "../../lib/followups/settings.js";

describe("follow-up settings", () => {
  it("uses the data-contract defaults when the company has no settings", () => {
    for (const raw of [undefined, null, {}]) {
      const { settings, warnings } = parseFollowupSettings(raw);
      expect(warnings).toEqual([]);
      expect(settings).toMatchObject({
        isInvoiceFollowupEnabled: false,
        isQuoteFollowupEnabled: false,
        relanceDelaysDays: [7, 14, 21],
        maxRelances: 3,
        isBeforeDueEnabled: false,
        daysBeforeDue: undefined,
        hoursBeforeDue: undefined,
        templates: [],
        sendingWindow: { timeZone: "Europe/Paris", businessDays: [1, 2, 3, 4, 5], startMinute: 480, endMinute: 1140 },
      });
    }
  });

  it("reads every key the app writes", () => {
    const { settings, warnings } = parseFollowupSettings({
      billing: { auto_followups: { invoices_enabled: true, quotes_enabled: "true" } },
      followups: {
        relance_delays: [5, "10"],
        max_relances: 4,
        enable_relances_before: true,
        days_before_due: 2,
        messages: [{ type: "Facture impayée", content: "Bonjour {client_name}", method: "email", subject: "Rappel" }],
        sending_window: { time_zone: "Europe/Brussels", business_days: [1, 2, 3, 4, 5, 6], start: "09:30", end: "18:00" },
      },
      company_info: { name: "Durand SARL", email: "contact@durand.fr", phone: "01 23 45 67 89", address: "1 rue de la Paix" },
    });
    expect(warnings).toEqual([]);
    expect(settings).toMatchObject({
      isInvoiceFollowupEnabled: true,
      isQuoteFollowupEnabled: true,
      relanceDelaysDays: [5, 10],
      maxRelances: 4,
      isBeforeDueEnabled: true,
      daysBeforeDue: 2,
      templates: [{ type: "Facture impayée", content: "Bonjour {client_name}", method: "email", subject: "Rappel" }],
      sendingWindow: { timeZone: "Europe/Brussels", businessDays: [1, 2, 3, 4, 5, 6], startMinute: 570, endMinute: 1080 },
      companyInfo: { name: "Durand SARL", email: "contact@durand.fr", phone: "01 23 45 67 89", address: "1 rue de la Paix" },
    });
  });

  it("falls back to the default of each bad value with a warning naming the key, and keeps the good ones", () => {
    const { settings, warnings } = parseFollowupSettings({
      billing: { auto_followups: { invoices_enabled: "maybe", quotes_enabled: true } },
      followups: {
        relance_delays: [],
        max_relances: -1,
        messages: [{ type: "Facture impayée" }, { type: "Devis non répondu", content: "Bonjour", method: "email" }],
        sending_window: { time_zone: "Mars/Olympus", start: "25:00", business_days: [0, 9] },
      },
    });
    expect(settings.isInvoiceFollowupEnabled).toBe(false);
    expect(settings.isQuoteFollowupEnabled).toBe(true);
    expect(settings.relanceDelaysDays).toEqual([7, 14, 21]);
    expect(settings.maxRelances).toBe(3);
    expect(settings.templates).toEqual([{ type: "Devis non répondu", content: "Bonjour", method: "email" }]);
    expect(settings.sendingWindow).toEqual(DEFAULT_SENDING_WINDOW);
    expect(warnings).toEqual([
      "settings.billing.auto_followups.invoices_enabled is invalid: using the default",
      "settings.followups.relance_delays is invalid: using the default",
      "settings.followups.max_relances is invalid: using the default",
      "settings.followups.messages[0] is invalid: ignored",
      "settings.followups.sending_window.time_zone is invalid: using the default",
      "settings.followups.sending_window.business_days is invalid: using the default",
      "settings.followups.sending_window.start is invalid: using the default",
    ]);
  });

  it("never throws, whatever the JSON holds", () => {
    for (const raw of ["text", 42, [], { billing: [] }, { followups: "x" }, { followups: { sending_window: { start: "18:00", end: "08:00" } } }]) {
      expect(() => parseFollowupSettings(raw)).not.toThrow();
    }
    const inverted = parseFollowupSettings({ followups: { sending_window: { start: "18:00", end: "08:00" } } });
    expect(inverted.settings.sendingWindow).toEqual(DEFAULT_SENDING_WINDOW);
    expect(inverted.warnings).toHaveLength(1);
  });
});
