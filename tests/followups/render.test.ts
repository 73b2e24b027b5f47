// The follow-up email's wording: French defaults per type, the company's own templates, every
// variable, and hostile values (line breaks aimed at the headers, markup aimed at the HTML part).

import { describe, expect, it } from "vitest";
import { companyTemplateFor, frenchAmount, renderFollowup, type TemplateValues } from "../../lib/followups/render.js";

const values: TemplateValues = {
  clientName: "Marie Curie",
  sourceLabel: "Facture FAC-2026-014",
  documentNumber: "FAC-2026-014",
  amount: 1234.5,
  dueDate: new Date("2026-03-01T23:00:00Z"),
  now: new Date("2026-03-12T09:00:00Z"),
  timeZone: "Europe/Paris",
  company: { name: "Atelier Durand", email: "contact@durand.fr", phone: "01 23 45 67 89", address: "1 rue de la Paix, Paris" },
};

describe("rendering a follow-up email", () => {
  it("writes the French default for an unpaid invoice with the amount, number and due date", () => {
    const email = renderFollowup({ type: "Facture impayée", isBeforeDue: false, template: undefined, values });
    expect(email.subject).toBe("Relance : facture FAC-2026-014 en attente de règlement");
    expect(email.text).toContain("Bonjour Marie Curie,");
    expect(email.text).toContain("Nous vous contactons concernant votre facture FAC-2026-014 d'un montant de 1\u00a0234,50 €.");
    expect(email.text).toContain("Cette facture est en attente de règlement depuis son échéance du 02/03/2026.");
    expect(email.text).toContain("Atelier Durand\ncontact@durand.fr\n01 23 45 67 89");
    expect(email.html).toContain("<p>Bonjour Marie Curie,</p>");
  });

  it("has a default subject and text for every follow-up type, and a reminder wording before the due date", () => {
    for (const type of ["Devis non répondu", "Facture impayée", "Info manquante", "Rappel RDV", "Client inactif", "Projet en attente", "Nouveau type"]) {
      const email = renderFollowup({ type, isBeforeDue: false, template: undefined, values });
      expect(email.subject.length).toBeGreaterThan(5);
      expect(email.text).toMatch(/^Bonjour Marie Curie,/);
      expect(email.text).not.toMatch(/\{[a-z_]+\}/);
    }
    const reminder = renderFollowup({ type: "Facture impayée", isBeforeDue: true, template: undefined, values });
    expect(reminder.subject).toBe("Rappel : échéance de la facture FAC-2026-014 le 02/03/2026");
  });

  it("fills every variable of a company template and leaves unknown ones visible", () => {
    const template = {
      type: "Facture impayée",
      method: "email" as const,
      subject: "{source_label} – {days_overdue} jours de retard",
      content:
        "{client_name} / {source_label} / {document_number} / {amount} € / {due_date} / {days_overdue} / {days_until_due}\n" +
        "{company_name} / {company_email} / {company_phone} / {company_address} / {iban}",
    };
    const email = renderFollowup({ type: "Facture impayée", isBeforeDue: false, template, values });
    expect(email.subject).toBe("Facture FAC-2026-014 – 10 jours de retard");
    expect(email.text).toBe(
      "Marie Curie / Facture FAC-2026-014 / FAC-2026-014 / 1\u00a0234,50 € / 02/03/2026 / 10 / 0\n" +
        "Atelier Durand / contact@durand.fr / 01 23 45 67 89 / 1 rue de la Paix, Paris / {iban}",
    );
  });

  it("drops signature lines whose only variable is empty", () => {
    const email = renderFollowup({
      type: "Facture impayée", isBeforeDue: false, template: undefined,
      values: { ...values, company: { name: "Atelier Durand" } },
    });
    expect(email.text).toMatch(/Cordialement,\nAtelier Durand$/);
  });

  it("keeps a client name with CR/LF on one line, so it cannot add a header (header injection)", () => {
    const hostile = { ...values, clientName: "Eve\r\nBcc: victim@example.com\r\n\r\n<b>x</b>" };
    const template = { type: "Facture impayée", method: "email" as const, subject: "Pour {client_name}", content: "Bonjour {client_name}" };
    const email = renderFollowup({ type: "Facture impayée", isBeforeDue: false, template, values: hostile });
    expect(email.subject).toBe("Pour Eve Bcc: victim@example.com <b>x</b>");
    expect(email.subject).not.toMatch(/[\r\n]/);
    expect(email.text).toBe("Bonjour Eve Bcc: victim@example.com <b>x</b>");
  });

  it("escapes markup in values and in the template inside the HTML part (script injection)", () => {
    const hostile = { ...values, clientName: `<script>alert("x")</script> & Cie` };
    const template = { type: "Facture impayée", method: "email" as const, content: "<i>Bonjour</i> {client_name}" };
    const email = renderFollowup({ type: "Facture impayée", isBeforeDue: false, template, values: hostile });
    expect(email.html).not.toContain("<script>");
    expect(email.html).not.toContain("<i>");
    expect(email.html).toContain("&lt;i&gt;Bonjour&lt;/i&gt; &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Cie");
  });

  it("formats amounts the French way", () => {
    expect(frenchAmount(1234.5)).toBe("1\u00a0234,50");
    expect(frenchAmount(0)).toBe("0,00");
    expect(frenchAmount(1_000_000)).toBe("1\u00a0000\u00a0000,00");
  });

  it("picks the company's email template for the type, and reports an SMS-only choice", () => {
    const templates = [
      { type: "Devis non répondu", content: "SMS", method: "sms" as const },
      { type: "Facture impayée", content: "Email", method: "email" as const },
    ];
    expect(companyTemplateFor(templates, "Facture impayée")).toMatchObject({ content: "Email" });
    expect(companyTemplateFor(templates, "Devis non répondu")).toBe("sms");
    expect(companyTemplateFor(templates, "Rappel RDV")).toBeUndefined();
  });
});
