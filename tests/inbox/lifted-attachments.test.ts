// The base64 bodies of attachments are decoded by the product (in pieces) instead of by the MIME
// parser (prune-mime.ts lifts them out). The parser's own decoding is the reference: for any body
// (clean, wrapped oddly, padded line by line, with junk among the characters) both must give the
// same bytes, and the attachments' names, types and order must not change.

import fc from "fast-check";
import { simpleParser } from "mailparser";
import type { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { DECODED_PIECE_BYTES } from "../../lib/inbox/decode-base64.js";
import { type AttachmentMeta, parseMessage } from "../../lib/inbox/parse-message.js";
import { pruneMime } from "../../lib/inbox/prune-mime.js";

const now = new Date("2026-03-10T12:00:00Z");

interface Kept {
  meta: AttachmentMeta;
  bytes: Buffer;
}

async function parseKeeping(source: Buffer): Promise<{ text: string; kept: Kept[] }> {
  const kept: Kept[] = [];
  const parsed = await parseMessage(source, {
    now,
    internalDate: null,
    saveAttachment: async (meta, content: Readable) => {
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      kept.push({ meta, bytes });
      return { path: null, sizeBytes: bytes.length };
    },
  });
  return { text: parsed.text, kept };
}

/** What mailparser alone makes of the message's attachments (the reference). */
async function reference(source: Buffer): Promise<Array<{ fileName: string | undefined; bytes: Buffer }>> {
  const mail = await simpleParser(source, { skipImageLinks: true, skipTextToHtml: true, skipTextLinks: true });
  return mail.attachments.map((a) => ({ fileName: a.filename, bytes: a.content }));
}

function pseudoRandomBytes({ size, seed }: { size: number; seed: number }): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

function wrap(base64: string, lineLength: number, eol: string): string {
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += lineLength) lines.push(base64.slice(i, i + lineLength));
  return lines.join(eol);
}

function messageWith(parts: Array<{ name: string; type: string; body: string }>, eol = "\r\n"): Buffer {
  const lines = [
    "From: Client <client@example.fr>", "To: compta@entreprise.fr", "Subject: Pieces jointes",
    "Message-ID: <pj@example.fr>", "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"', "",
    "--b1", "Content-Type: text/plain; charset=utf-8", "", "Voici les documents.",
  ];
  for (const part of parts) {
    lines.push("--b1", `Content-Type: ${part.type}; name="${part.name}"`, `Content-Disposition: attachment; filename="${part.name}"`,
      "Content-Transfer-Encoding: base64", "", part.body);
  }
  lines.push("--b1--", "");
  return Buffer.from(lines.join(eol), "latin1");
}

describe("attachments decoded outside the MIME parser", () => {
  it("gives the bytes mailparser gives, for clean and odd base64 bodies", async () => {
    const body = fc.record({
      // Up to a few slices of the decoder (it decodes about 64 KB at a time).
      bytes: fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 6000 }), fc.record({ size: fc.integer({ min: 60_000, max: 300_000 }), seed: fc.integer() }).map(pseudoRandomBytes)),
      lineLength: fc.integer({ min: 1, max: 200 }),
      eol: fc.constantFrom("\r\n", "\n", " \r\n", "\t\n"),
      // Old clients pad every line on its own; some insert stray characters.
      quirk: fc.constantFrom("none", "none", "padded-lines", "junk", "8bit", "late-junk"),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(body, { minLength: 1, maxLength: 3 }), fc.constantFrom("\r\n", "\n"), async (bodies, eol) => {
        const parts = bodies.map((b, i) => {
          let text: string;
          if (b.quirk === "padded-lines") {
            const chunks: string[] = [];
            for (let j = 0; j < b.bytes.length; j += 40) chunks.push(Buffer.from(b.bytes.subarray(j, j + 40)).toString("base64"));
            text = chunks.join(b.eol);
          } else {
            text = wrap(Buffer.from(b.bytes).toString("base64"), b.lineLength, b.eol);
            if (b.quirk === "junk") text = text.replace(/(.{37})/g, "$1*-_!");
            if (b.quirk === "8bit") text = text.replace(/(.{29})/g, "$1\u00e9");
            // One stray character far into the body: the slices before it were already decoded.
            if (b.quirk === "late-junk") text = `${text.slice(0, Math.floor(text.length * 0.8))}*${text.slice(Math.floor(text.length * 0.8))}`;
          }
          return { name: `piece-${i}.bin`, type: "application/octet-stream", body: text };
        });
        const source = messageWith(parts, eol);
        const ours = await parseKeeping(source);
        const theirs = await reference(source);
        expect(ours.kept.map((k) => k.meta.fileName)).toEqual(theirs.map((t) => t.fileName));
        for (const [i, k] of ours.kept.entries()) expect(k.bytes.equals(theirs[i]!.bytes)).toBe(true);
        expect(ours.text).toBe("Voici les documents.");
      }),
      { numRuns: 200 },
    );
  });

  it("gives the bytes mailparser gives for bodies of several decoded pieces, whatever comes odd and where", async () => {
    // Each about 2.6 MB decoded: three pieces of DECODED_PIECE_BYTES. The stray character falls in
    // the second and in the third piece, after pieces were already handed out; one body has no line break.
    const bytes = Buffer.from(pseudoRandomBytes({ size: 2_600_000, seed: 42 }));
    const clean = wrap(bytes.toString("base64"), 76, "\r\n");
    const strayAt = (at: number) => `${clean.slice(0, at)}*${clean.slice(at)}`;
    const source = messageWith([
      { name: "clean.bin", type: "application/octet-stream", body: clean },
      { name: "stray-second.bin", type: "application/octet-stream", body: strayAt(1_500_000) },
      { name: "stray-third.bin", type: "application/octet-stream", body: strayAt(3_300_000) },
      { name: "one-line.bin", type: "application/octet-stream", body: bytes.toString("base64") },
    ]);
    expect(DECODED_PIECE_BYTES * 2).toBeLessThan(bytes.length);
    const ours = await parseKeeping(source);
    const theirs = await reference(source);
    expect(ours.kept.map((k) => k.meta.fileName)).toEqual(theirs.map((t) => t.fileName));
    for (const [i, k] of ours.kept.entries()) {
      expect(k.bytes.equals(theirs[i]!.bytes)).toBe(true);
      expect(k.bytes.equals(bytes)).toBe(true); // a stray character is skipped, as mailparser skips it
    }
  });

  it("hands a decoded attachment to the storage in pieces, never whole", async () => {
    const bytes = Buffer.from(pseudoRandomBytes({ size: 2_600_000, seed: 7 }));
    const source = messageWith([{ name: "scan.pdf", type: "application/pdf", body: wrap(bytes.toString("base64"), 76, "\r\n") }]);
    const pieces: number[] = [];
    await parseMessage(source, {
      now, internalDate: null,
      saveAttachment: async (_meta, content) => {
        for await (const chunk of content) pieces.push((chunk as Buffer).length);
        return { path: null, sizeBytes: pieces.reduce((a, b) => a + b, 0) };
      },
    });
    expect(pieces.reduce((a, b) => a + b, 0)).toBe(bytes.length);
    expect(Math.max(...pieces)).toBeLessThanOrEqual(DECODED_PIECE_BYTES + 64 * 1024);
    expect(pieces.length).toBeGreaterThanOrEqual(3);
  });

  it("lifts the bodies out of the parser's input, and only attachments' base64 bodies", () => {
    const pdf = Buffer.alloc(3000, 7).toString("base64");
    const source = messageWith([
      { name: "facture.pdf", type: "application/pdf", body: wrap(pdf, 76, "\r\n") },
      { name: "notes.txt", type: "text/plain", body: wrap(Buffer.alloc(3000, 65).toString("base64"), 76, "\r\n") },
    ]);
    const pruned = pruneMime(source, { partTag: "t0" });
    expect(pruned.liftedBodies).toHaveLength(1);
    expect(pruned.source.length).toBeLessThan(source.length - 3000);
    expect(pruned.source.toString("latin1")).toContain("X-Lokario-Part: t0:0");
    // The text attachment stays for the parser (it may read it as text).
    expect(pruned.source.toString("latin1")).toContain(wrap(Buffer.alloc(3000, 65).toString("base64"), 76, "\r\n"));
    // Without a tag nothing is lifted.
    expect(pruneMime(source).source.equals(source)).toBe(true);
  });

  it("decodes a message that is one base64 attachment, and one inside a forwarded message", async () => {
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));
    const whole = Buffer.from([
      "From: scanner@example.fr", "To: compta@entreprise.fr", "Subject: Scan", "MIME-Version: 1.0",
      'Content-Type: application/pdf; name="scan.pdf"', "Content-Transfer-Encoding: base64", "",
      wrap(bytes.toString("base64"), 76, "\r\n"), "",
    ].join("\r\n"));
    const forwarded = Buffer.from([
      "From: Client <client@example.fr>", "To: compta@entreprise.fr", "Subject: Fwd: facture", "MIME-Version: 1.0",
      'Content-Type: multipart/mixed; boundary="out"', "", "--out", "Content-Type: text/plain", "", "Transfert.",
      "--out", "Content-Type: message/rfc822", "Content-Disposition: inline", "",
      "From: fournisseur@example.fr", "Subject: facture", "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="in"', "",
      "--in", "Content-Type: text/plain", "", "Ci-joint.", "--in", 'Content-Type: application/pdf; name="f.pdf"',
      "Content-Transfer-Encoding: base64", "", wrap(bytes.toString("base64"), 64, "\r\n"), "--in--", "", "--out--", "",
    ].join("\r\n"));
    for (const source of [whole, forwarded]) {
      const ours = await parseKeeping(source);
      const theirs = await reference(source);
      expect(ours.kept.map((k) => k.meta.fileName)).toEqual(theirs.map((t) => t.fileName));
      expect(ours.kept.map((k) => k.bytes.equals(bytes))).toEqual(theirs.map(() => true));
    }
  });

  it("ignores the naming field when a message carries it itself", async () => {
    const bytes = Buffer.alloc(4000, 3);
    const source = Buffer.from(messageWith([{ name: "a.bin", type: "application/octet-stream", body: wrap(bytes.toString("base64"), 76, "\r\n") }])
      .toString("latin1").replace("Content-Transfer-Encoding: base64", "X-Lokario-Part: 0:0\r\nContent-Transfer-Encoding: base64"), "latin1");
    const ours = await parseKeeping(source);
    expect(ours.kept).toHaveLength(1);
    expect(ours.kept[0]!.bytes.equals(bytes)).toBe(true);
  });
});
