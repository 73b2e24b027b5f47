// Rows travel to PostgreSQL as one JSON parameter (json-rows.ts). Broken mail can decode into lone
// UTF-16 surrogates, which JSON.stringify escapes and PostgreSQL's JSON parser refuses: they must
// arrive as U+FFFD, as a text parameter would carry them, and everything else unchanged.

import fc from "fast-check";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { rowsOf } from "../../lib/db/client.js";
import { jsonParam } from "../../lib/db/json-rows.js";
import { useDatabase } from "../support/databases.js";

describe("a JSON parameter", () => {
  const database = useDatabase("pglite");

  const readBack = async (value: unknown): Promise<unknown> => {
    const [row] = rowsOf<{ value: unknown }>(await database.db.execute(sql`select (${jsonParam(value)}::json) as value`));
    return typeof row!.value === "string" ? JSON.parse(row!.value) : row!.value;
  };

  it("reaches PostgreSQL for any text, lone surrogates read as U+FFFD and the rest unchanged", async () => {
    // Any UTF-16 code units (lone surrogates included), and text that merely spells an escape.
    const text = fc.oneof(fc.string({ unit: "binary" }), fc.constantFrom("\\ud800", "a\\\\udfff", "😀", "\ud83d", "x\udc00y"));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ content: text, subject: text, count: fc.integer() }), { maxLength: 5 }), async (rows) => {
        expect(await readBack(rows)).toEqual(rows.map((r) => ({ ...r, content: r.content.toWellFormed(), subject: r.subject.toWellFormed() })));
      }),
      { numRuns: 150 },
    );
  });

  it("is JSON.stringify's own text when nothing needs replacing", () => {
    const rows = [{ content: "Bonjour, voici le devis \\ud800 (sic) 😀", n: 1 }];
    expect(jsonParam(rows)).toBe(JSON.stringify(rows));
    expect(jsonParam({ content: "a\ud800b" })).toBe(JSON.stringify({ content: "a\ufffdb" }));
  });
});
