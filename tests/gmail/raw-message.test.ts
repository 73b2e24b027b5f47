// Raw messages over the Gmail API: `format=raw` base64url decoded as it streams, byte for byte,
// whatever the chunking, the JSON's layout and field order; over-size messages as their header
// block only; a message deleted since it was listed.

import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { getRawMessage } from "../../lib/gmail/get-raw-message.js";
import { OVERSIZE_HEAD_BYTES, RawMessageDecoder } from "../../lib/gmail/raw-message-decoder.js";
import { startGmailServer, type TestGmailServer } from "../support/gmail-server.js";
import { clientOf, fakeClock, mail, newMailbox } from "./gmail-kit.js";

const FIXTURES = new URL("../fixtures/eml/", import.meta.url);
const MAX_BYTES = 25 * 1024 * 1024;

describe("raw messages over the Gmail API", () => {
  const authorizationServer = inject("authorizationServer");
  let gmail: TestGmailServer;
  beforeAll(async () => {
    gmail = await startGmailServer({ authorizationServer });
  });
  afterAll(async () => {
    await gmail.close();
  });

  it("gives each fixture message back byte for byte, with Gmail's other fields", async () => {
    const clock = fakeClock();
    const { address, token } = await newMailbox(authorizationServer);
    const client = clientOf(gmail, token, clock);
    for (const name of readdirSync(FIXTURES).filter((n) => n.endsWith(".eml"))) {
      const raw = readFileSync(new URL(name, FIXTURES));
      const stored = gmail.deliver(address, raw, { labelIds: ["INBOX", "UNREAD"], internalDate: new Date("2026-03-01T10:00:00Z") });

      const result = await getRawMessage(client, stored.id, { maxBytes: MAX_BYTES });

      expect(result.found, name).toBe(true);
      if (!result.found) continue;
      expect(result.isOversize, name).toBe(false);
      expect(Buffer.compare(result.source, raw), name).toBe(0);
      expect(result.message, name).toMatchObject({
        id: stored.id, threadId: stored.threadId, labelIds: ["INBOX", "UNREAD"], historyId: stored.historyId,
        internalDate: String(Date.parse("2026-03-01T10:00:00Z")), sizeEstimate: raw.length,
      });
      expect(result.message).not.toHaveProperty("raw");
    }
  });

  it("gives a 3 MB message of every byte value back exactly, read in network-sized chunks", async () => {
    const clock = fakeClock();
    const { address, token } = await newMailbox(authorizationServer);
    const raw = Buffer.concat([mail({ subject: "Plans" }), randomBytes(3 * 1024 * 1024 + 1)]);
    const stored = gmail.deliver(address, raw, { labelIds: ["INBOX"] });

    const result = await getRawMessage(clientOf(gmail, token, clock), stored.id, { maxBytes: MAX_BYTES });

    expect(result.found && Buffer.compare(result.source, raw)).toBe(0);
  });

  it("gives only the header block of a message over the size limit", async () => {
    const clock = fakeClock();
    const { address, token } = await newMailbox(authorizationServer);
    const raw = mail({ subject: "Pièces jointes", body: "x".repeat(400_000) });
    const stored = gmail.deliver(address, raw, { labelIds: ["INBOX"] });

    const result = await getRawMessage(clientOf(gmail, token, clock), stored.id, { maxBytes: 100_000 });

    expect(result).toMatchObject({ found: true, isOversize: true, message: { sizeEstimate: raw.length } });
    const headerEnd = raw.indexOf("\r\n\r\n") + 4;
    expect(result.found && result.source.toString("latin1")).toBe(raw.subarray(0, headerEnd).toString("latin1"));
  });

  it("says a message deleted since it was listed is gone", async () => {
    const clock = fakeClock();
    const { token } = await newMailbox(authorizationServer);

    expect(await getRawMessage(clientOf(gmail, token, clock), "18f0000000000000", { maxBytes: MAX_BYTES })).toEqual({ found: false });
  });
});

describe("decoding a raw message as it streams", () => {
  const answerOf = (raw: Buffer, layout: { isPretty: boolean; sizeEstimate: "before" | "after" | "absent" | "wrong"; padding: boolean }) => {
    const encoded = raw.toString("base64url") + (layout.padding ? "=".repeat((4 - (raw.toString("base64url").length % 4)) % 4) : "");
    const size = layout.sizeEstimate === "wrong" ? Math.max(1, Math.floor(raw.length / 2)) : raw.length;
    const fields: [string, unknown][] = [
      ["id", "18f0a0b0c0d00001"], ["threadId", "18f0a0b0c0d00001"], ["labelIds", ["INBOX", "Label_\"raw\":\"x"]],
      ["snippet", "raw: \"not this\" \\ é"],
      ...(layout.sizeEstimate === "before" || layout.sizeEstimate === "wrong" ? [["sizeEstimate", size] as [string, unknown]] : []),
      ["raw", encoded], ["payload", { raw: "AAAA", headers: [{ name: "raw", value: "x" }] }],
      ...(layout.sizeEstimate === "after" ? [["sizeEstimate", size] as [string, unknown]] : []),
      ["historyId", "4242"], ["internalDate", "1772960400000"],
    ];
    return Buffer.from(JSON.stringify(Object.fromEntries(fields), null, layout.isPretty ? 2 : undefined));
  };
  const decode = (answer: Buffer, cuts: number[], maxBytes = MAX_BYTES) => {
    const decoder = new RawMessageDecoder({ maxBytes });
    let from = 0;
    for (const at of [...cuts.filter((c) => c > 0 && c < answer.length)].sort((a, b) => a - b).concat(answer.length)) {
      if (!decoder.write(answer.subarray(from, at))) break;
      from = at;
    }
    return decoder.end();
  };

  it("gives the same bytes whatever the chunking, layout, padding and size field", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 3000 }),
        fc.array(fc.nat({ max: 6000 }), { maxLength: 12 }),
        fc.boolean(), fc.constantFrom("before", "after", "absent", "wrong"), fc.boolean(),
        (bytes, cuts, isPretty, sizeEstimate, padding) => {
          const raw = Buffer.from(bytes);
          const decoded = decode(answerOf(raw, { isPretty, sizeEstimate: sizeEstimate as "before", padding }), cuts);
          expect(Buffer.compare(decoded.source, raw)).toBe(0);
          expect(decoded.isOversize).toBe(false);
          expect(decoded.message).toMatchObject({ id: "18f0a0b0c0d00001", labelIds: ["INBOX", "Label_\"raw\":\"x"], payload: { raw: "AAAA" } });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("decodes byte by byte", () => {
    const raw = Buffer.from("Subject: é\r\n\r\nbody\r\n");
    expect(decode(answerOf(raw, { isPretty: true, sizeEstimate: "before", padding: true }), Array.from({ length: 400 }, (_, i) => i)).source.toString("utf8")).toBe(raw.toString("utf8"));
  });

  it("stops at the header block when the size field says the message is over the limit", () => {
    const raw = Buffer.concat([Buffer.from("Subject: gros\r\n\r\n"), randomBytes(OVERSIZE_HEAD_BYTES * 3)]);
    const answer = answerOf(raw, { isPretty: false, sizeEstimate: "before", padding: false });
    const decoder = new RawMessageDecoder({ maxBytes: 1000 });
    let isReading = true;
    let read = 0;
    for (let at = 0; at < answer.length && isReading; at += 65_536) {
      isReading = decoder.write(answer.subarray(at, at + 65_536));
      read = at + 65_536;
    }

    const decoded = decoder.end();
    expect(decoded).toMatchObject({ isOversize: true, message: { sizeEstimate: raw.length } });
    expect(decoded.source.toString("latin1")).toBe("Subject: gros\r\n\r\n");
    // The rest of the answer was not needed.
    expect(read).toBeLessThan(answer.length / 2);
  });

  it("refuses an answer cut off in the middle of the message, or whose raw is not base64url", () => {
    const answer = answerOf(mail(), { isPretty: true, sizeEstimate: "before", padding: true });
    const cut = answer.subarray(0, answer.indexOf('"raw"') + 40);
    expect(() => decode(cut, [])).toThrow(/no complete `raw`/);
    const bad = Buffer.from(answer.toString("latin1").replace(/"raw": "([A-Za-z0-9_-]{8})/, '"raw": "$1+/\\u00'), "latin1");
    expect(() => decode(bad, [])).toThrow(/not base64url/);
  });
});
