import { describe, expect, it } from "vitest";
import { subjectKey } from "../../lib/inbox/subject-key.js";

describe("subjectKey", () => {
  it.each([
    ["Re: Devis DEV-2025-023", "devis dev-2025-023"],
    ["RE : Devis DEV-2025-023", "devis dev-2025-023"],
    ["Re: RE: Fwd: TR: Devis DEV-2025-023", "devis dev-2025-023"],
    ["Fw: AW: WG: devis   dev-2025-023 ", "devis dev-2025-023"],
    ["Réf : Devis DEV-2025-023", "devis dev-2025-023"],
    ["Re[2]: Re(3): Devis DEV-2025-023", "devis dev-2025-023"],
    ["I: R: Ordine", "ordine"],
    ["回复：发票", "发票"],
    ["Devis DEV-2025-023 (fwd)", "devis dev-2025-023"],
  ])("reduces %j to %j", (subject, key) => {
    expect(subjectKey(subject)).toBe(key);
  });

  it("keeps list tags, wherever the reply prefix sits around them", () => {
    expect(subjectKey("[Chantier 12] Re: Carrelage")).toBe("[chantier 12] carrelage");
    expect(subjectKey("Re: [Chantier 12] Carrelage")).toBe("[chantier 12] carrelage");
    expect(subjectKey("Re: [Chantier 12] Re: [Chantier 12] Carrelage")).toBe("[chantier 12] carrelage");
    expect(subjectKey("[Chantier 12] Carrelage")).not.toBe(subjectKey("Carrelage"));
  });

  it("does not strip words that merely start like a prefix", () => {
    expect(subjectKey("Relance facture")).toBe("relance facture");
    expect(subjectKey("Trésorerie")).toBe("trésorerie");
    expect(subjectKey("Information: horaires")).toBe("information: horaires");
  });

  it("gives an empty key for an empty or missing subject", () => {
    expect(subjectKey("")).toBe("");
    expect(subjectKey(null)).toBe("");
    expect(subjectKey("Re: ")).toBe("");
  });
});
