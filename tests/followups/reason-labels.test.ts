// Every reason the follow-up job can report (why a follow-up waits, is skipped or closed) has French
// words for the operator's page and its simulation: a new reason written without them would show
// as a raw code.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { REASON_TEXTS } from "../../lib/followups/reason-labels.js";

const LIB = fileURLToPath(new URL("../../lib/", import.meta.url));

/** The reason codes written in the follow-up and SMS sources: skips, unavailable senders and accounts, phone checks. */
function reasonsInSources(): Set<string> {
  const codes = new Set<string>();
  const patterns = [/skip\("([a-z_]+)"\)/g, /unavailable: "([a-z_]+)"/g, /kind: "skip", reason: "([a-z_]+)"/g, /unusable: "([a-z_]+)"/g, /reason: "([a-z_]+)" as const/g];
  for (const folder of ["followups", "followups/channels", "sms"]) {
    for (const file of readdirSync(join(LIB, folder)).filter((f) => f.endsWith(".ts"))) {
      const source = readFileSync(join(LIB, folder, file), "utf8");
      for (const pattern of patterns) for (const match of source.matchAll(pattern)) codes.add(match[1]!);
      // The typed unions (SkipReason, WaitReason, CloseReason, …) are checked by the table's type.
      for (const union of source.matchAll(/export type \w*(?:Skip|Wait|Close)Reason =([^;]+);/g)) {
        for (const member of union[1]!.matchAll(/"([a-z_]+)"/g)) codes.add(member[1]!);
      }
    }
  }
  return codes;
}

describe("follow-up reason texts", () => {
  it("gives every reason code the job can report French words", () => {
    const codes = reasonsInSources();
    expect(codes.size).toBeGreaterThan(30);
    expect([...codes].filter((code) => !(code in REASON_TEXTS))).toEqual([]);
  });

  it("writes no reason as a code", () => {
    for (const text of Object.values(REASON_TEXTS)) expect(text.label).not.toMatch(/[a-z]+_[a-z]+/);
  });
});
