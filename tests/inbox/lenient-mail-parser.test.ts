// LenientMailParser (lib/inbox/lenient-mail-parser.ts) overrides two internal methods of
// mailparser's MailParser, which its public options cannot replace: mailparser 3.14.5 still decodes
// a text part under an unknown or missing charset as UTF-8 with U+FFFD, and hands no decoder at all
// a part labelled us-ascii or utf-8. mailparser is therefore pinned to an exact version, and this
// test fails when an upgrade changes the code the override stands on. On failure: read the new
// createNode, getDecoder and processChunk, adapt the override if needed (the charset tests of
// parse-message.test.ts show whether it still works), then record the new digests here.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { MailParser } from "mailparser";
import { describe, expect, it } from "vitest";

/** The version the override was written and checked against, and its methods' source digests. */
const WRITTEN_FOR = {
  version: "3.14.5",
  methods: {
    // Builds a node; the override reads its decoder, isAttachment, contentType and charset.
    createNode: "d96270532d79627dde042729c05f32a9b97c070c5fc9c9d5356b5090895ad0aa",
    // Returns the { decodeStream(charset) } object the override wraps.
    getDecoder: "46e1b5344712c84f5b2cb4cd750691f72e8a3e55ffab0eced25692c5b9e89698",
    // Routes a text part's charset (other than ascii/utf-8 spellings) to this.decoder.decodeStream.
    processChunk: "763df28044230f73ba8386935551b658d54d87f64842f21233e5b9d513bed5f6",
  },
};

const methodSource = (name: string): string => {
  const method: unknown = (MailParser.prototype as unknown as Record<string, unknown>)[name];
  return typeof method === "function" ? method.toString() : "(missing)";
};

describe("the mailparser internals LenientMailParser overrides", () => {
  it("are those of the pinned version: installed, and named exactly in package.json", () => {
    const manifest = (path: string) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as { version?: string; dependencies?: Record<string, string> };
    expect(manifest("../../node_modules/mailparser/package.json").version).toBe(WRITTEN_FOR.version);
    expect(manifest("../../package.json").dependencies?.mailparser).toBe(WRITTEN_FOR.version);
  });

  it("have the source the override was written for (an upgrade that changes them fails here)", () => {
    const digests = Object.fromEntries(
      Object.keys(WRITTEN_FOR.methods).map((name) => [name, createHash("sha256").update(methodSource(name)).digest("hex")]),
    );
    expect(digests).toEqual(WRITTEN_FOR.methods);
    // The decoder the override wraps is taken once, when the parser is built.
    expect(MailParser.toString()).toContain("this.decoder = this.getDecoder();");
  });
});
