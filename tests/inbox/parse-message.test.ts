import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { chooseMessageDate } from "../../lib/inbox/message-date.js";
import { messageIdsIn, normalizeMessageId } from "../../lib/inbox/message-id.js";
import { MAX_ATTACHMENTS_PER_MESSAGE, MAX_MIME_PARTS, parseMessage } from "../../lib/inbox/parse-message.js";
import { buildEml, CORPUS_DIR, readFixture } from "./message-kit.js";

const now = new Date("2025-02-10T12:00:00Z");
const parse = async (source: Buffer, internalDate: Date | null = null) => parseMessage(source, { now, internalDate });
const parseFixture = async (name: string) => parse(await readFixture(name));

describe("parseMessage: charsets and encoded words", () => {
  it("decodes a subject whose RFC 2047 words split one UTF-8 character across folded lines", async () => {
    const parsed = await parseFixture("rfc2047-split-words.eml");
    expect(parsed.subject).toBe("Facture n°42 — échéance dépassée");
    expect(parsed.from).toEqual({ name: "Helène Dupré", address: "helene.dupre@client.example" });
  });

  it("reads an ISO-8859-1 body sent as raw 8-bit and a Q-encoded ISO-8859-1 subject", async () => {
    const parsed = await parseFixture("iso-8859-1-8bit.eml");
    expect(parsed.subject).toBe("Réglement de la facture");
    expect(parsed.text).toBe("Bonjour, la facture est réglée. À bientôt, François.");
  });

  it("reads the characters only Windows-1252 has (euro sign, curly apostrophe, oe ligature)", async () => {
    const parsed = await parseFixture("windows-1252.eml");
    expect(parsed.subject).toBe("Acompte de 1 250 €");
    expect(parsed.text).toBe("Montant : 1 250 € – l’œuvre est terminée.");
  });

  it("reads a KOI8-R body and KOI8-R encoded words", async () => {
    const parsed = await parseFixture("koi8-r.eml");
    expect(parsed.subject).toBe("Счёт на оплату");
    expect(parsed.from.name).toBe("Иван Петров");
    expect(parsed.text).toBe("Здравствуйте! Прошу выставить счёт.");
  });

  it("reads Latin-1 bytes when no charset is declared, in raw headers and in the body", async () => {
    const parsed = await parseFixture("missing-charset.eml");
    expect(parsed.subject).toBe("Devis accepté");
    expect(parsed.from.name).toBe("Hélène Dupré");
    expect(parsed.text).toBe("Merci pour le devis, c'est accepté. Cordialement, Hélène");
    expect(parsed.text).not.toContain("\uFFFD");
  });

  it("reads UTF-8 text that its sender labelled GB2312 (corpus mail_test_12)", async () => {
    const parsed = await parse(await readFile(new URL("mail_test_12.eml", CORPUS_DIR)));
    expect(parsed.text).toContain("你好！我公司可代开各类增值税发票");
  });

  it("reads 8-bit text under a charset label no decoder knows as Windows-1252", async () => {
    const head = "From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=\"x-unknown-foo\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
    // "Été : 1 250 € – l’œuvre" in Windows-1252.
    const body = Buffer.from([0xc9, 0x74, 0xe9, 0x20, 0x3a, 0x20, 0x31, 0x20, 0x32, 0x35, 0x30, 0x20, 0x80, 0x20, 0x96, 0x20, 0x6c, 0x92, 0x9c, 0x75, 0x76, 0x72, 0x65]);
    const parsed = await parse(Buffer.concat([Buffer.from(head), body]));
    expect(parsed.text).toBe("Été : 1 250 € – l’œuvre");
  });

  it("keeps the bytes Windows-1252 leaves undefined as C1 controls when guessing, as U+FFFD when declared", async () => {
    const head = (contentType: string) =>
      Buffer.from(`From: a@b.example\r\nSubject: x\r\nContent-Type: ${contentType}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`);
    // 0x81, 0x8D, 0x8F, 0x90 and 0x9D have no character in Windows-1252; 0x80 is "€", 0xE9 "é".
    const body = Buffer.from([0x41, 0x81, 0x8d, 0x8f, 0x90, 0x9d, 0x20, 0x80, 0xe9]);
    const guessed = await parse(Buffer.concat([head("text/plain"), body]));
    const declared = await parse(Buffer.concat([head("text/plain; charset=windows-1252"), body]));
    // Guessed: WHATWG's reading, each hole the control character of the same value.
    expect(guessed.text).toBe("A\u0081\u008d\u008f\u0090\u009d €é");
    // Declared: mailparser's own decoder, which replaces each hole.
    expect(declared.text).toBe("A\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD €é");
  });

  it("reads a raw Windows-1252 header block with its undefined bytes as C1 controls", async () => {
    const source = Buffer.concat([
      Buffer.from("From: a@b.example\r\nSubject: R"),
      Buffer.from([0x81, 0xe9, 0x80]),
      Buffer.from("\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n"),
    ]);
    expect((await parse(source)).subject).toBe("R\u0081é€");
  });

  it("makes readable text from an HTML-only message, leaving scripts and styles out", async () => {
    const parsed = await parseFixture("html-only.eml");
    expect(parsed.html).toContain("<p>Bonjour,</p>");
    // &nbsp; before "!" (French typography) comes out as U+00A0.
    expect(parsed.text).toContain("Voici les photos du chantier. Le résultat est très bien\u00a0!");
    expect(parsed.text).not.toMatch(/alert|color: red|<p>/);
  });
});

describe("parseMessage: automation flags", () => {
  it("flags an RFC 3834 out-of-office reply as an auto-reply and not as a bounce", async () => {
    const parsed = await parseFixture("auto-reply.eml");
    expect(parsed).toMatchObject({ isAutoReply: true, isBounce: false, autoSubmitted: "auto-replied" });
    expect(parsed.inReplyTo).toEqual(["relance-fac-2025-014-step-1@lokario.example"]);
  });

  it("flags a delivery status notification as a bounce", async () => {
    const parsed = await parseFixture("dsn-bounce.eml");
    expect(parsed).toMatchObject({ isBounce: true, isAutoReply: false });
    expect(parsed.text).toContain("Status: 5.1.1");
  });

  it.each([
    ["Precedence: bulk", true],
    ["Precedence: list", true],
    ["X-Autorespond: yes", true],
    ["X-Auto-Response-Suppress: OOF, AutoReply", true],
    ["Auto-Submitted: auto-generated", true],
    ["Auto-Submitted: no", false],
    ["X-Mailer: Outlook", false],
  ])("reads %s as auto-reply=%s", async (header, expected) => {
    const parsed = await parse(buildEml({ headers: [header] }));
    expect(parsed.isAutoReply).toBe(expected);
  });

  /** A report whose delivery-status part comes after `before` (other parts), not marked multipart/report. */
  const wrappedReport = (before: string, statusHeader = "Content-Type: message/delivery-status") =>
    Buffer.from(
      "From: Serveur <robot@relay.example>\r\nTo: contact@entreprise.example\r\nSubject: Non remis\r\nMIME-Version: 1.0\r\n" +
        'Content-Type: multipart/mixed; boundary="r"\r\n\r\n' + before +
        `--r\r\n${statusHeader}\r\n\r\nReporting-MTA: dns; relay.example\r\n\r\nFinal-Recipient: rfc822; x@y.example\r\nAction: failed\r\nStatus: 5.1.1\r\n--r--\r\n`,
    );
  const textPart = (bytes: number) => `--r\r\nContent-Type: text/plain\r\n\r\n${"Le message n'a pas pu être remis.\r\n".repeat(Math.ceil(bytes / 36))}`;
  const attachmentPart = (bytes: number) =>
    `--r\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="facture.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n` +
    `${Buffer.alloc(bytes, 7).toString("base64").replace(/.{76}/g, "$&\r\n")}\r\n`;

  it.each([
    ["right after the headers", ""],
    ["after 200 KB of text, read in several pieces", textPart(200_000)],
    ["after a text line longer than a piece", `--r\r\nContent-Type: text/plain\r\n\r\n${"x".repeat(100_000)}\r\n`],
    ["after a 3 MB attachment (whose base64 is not read for it)", attachmentPart(3_000_000)],
  ])("flags a delivery-status part %s as a bounce", async (_, before) => {
    expect(await parse(wrappedReport(before))).toMatchObject({ isBounce: true });
  });

  it("flags a delivery-status part whose Content-Type line is folded, at the end of a piece, as a bounce", async () => {
    // "--r", then "Content-Type:" ending the first 64 KB piece; its continuation line starts the next.
    const prefix = "--r\r\nContent-Type: text/plain\r\n\r\n";
    const before = `${prefix}${"y".repeat(64 * 1024 - 25 - prefix.length - 2)}\r\n`;
    expect(await parse(wrappedReport(before, "Content-Type:\r\n message/delivery-status"))).toMatchObject({ isBounce: true });
  });

  it("does not take the words of a delivery-status type inside a line for a bounce part", async () => {
    const parsed = await parse(wrappedReport(textPart(100_000), "Content-Type: text/plain\r\n\r\nvoir content-type: message/delivery-status"));
    expect(parsed.isBounce).toBe(false);
  });

  it("does not take an auto-reply with a null Return-Path for a bounce", async () => {
    const parsed = await parse(buildEml({ headers: ["Return-Path: <>", "Auto-Submitted: auto-replied"] }));
    expect(parsed).toMatchObject({ isAutoReply: true, isBounce: false });
  });
});

describe("parseMessage: dates", () => {
  const internalDate = new Date("2025-02-09T08:00:00Z");

  it("files a message dated years ahead under its INTERNALDATE", async () => {
    const parsed = await parse(await readFixture("future-date.eml"), internalDate);
    expect(parsed).toMatchObject({ date: internalDate, dateSource: "internal-date" });
  });

  it.each([
    ["Thu, 01 Jan 1970 00:00:00 +0000"],
    ["not a date at all"],
    [""],
  ])("falls back from the Date header %j to INTERNALDATE, then to the import time", async (date) => {
    expect((await parse(buildEml({ date }), internalDate)).date).toEqual(internalDate);
    expect(chooseMessageDate(date, new Date("2099-01-01T00:00:00Z"), now)).toEqual({ date: now, source: "import-time" });
  });

  it("reads RFC 5322 dates with comments, obsolete zones and two-digit years", () => {
    expect(chooseMessageDate("Wed, 24 Apr 2019 10:05:02 +0200 (CEST)", null, now).date.toISOString()).toBe("2019-04-24T08:05:02.000Z");
    expect(chooseMessageDate("24 Apr 19 10:05:02 GMT", null, now).date.toISOString()).toBe("2019-04-24T10:05:02.000Z");
    expect(chooseMessageDate("Mon, 10 Oct 2022 15:11:35 EST", null, now).date.toISOString()).toBe("2022-10-10T20:11:35.000Z");
  });

  it("keeps a date a few hours ahead (a sender's clock or time zone slightly off)", async () => {
    const parsed = await parse(buildEml({ date: "Mon, 10 Feb 2025 20:00:00 +0000" }));
    expect(parsed).toMatchObject({ date: new Date("2025-02-10T20:00:00Z"), dateSource: "header" });
  });
});

describe("parseMessage: identifiers", () => {
  it("lowercases only the domain of a Message-ID (the local part is case-sensitive)", () => {
    expect(normalizeMessageId(" <AbC.123@Mail.Example.COM> ")).toBe("AbC.123@mail.example.com");
    expect(normalizeMessageId("no-brackets@Example.com")).toBe("no-brackets@example.com");
    expect(normalizeMessageId("<>")).toBeNull();
    expect(messageIdsIn("<a@x.example>\r\n <b@x.example> <a@x.example>")).toEqual(["a@x.example", "b@x.example"]);
    expect(messageIdsIn("a@x.example, b@y.example")).toEqual(["a@x.example", "b@y.example"]);
  });

  it("reads In-Reply-To and References in header order", async () => {
    const parsed = await parseFixture("reply-in-reply-to.eml");
    expect(parsed.inReplyTo).toEqual(["devis-dev-2025-023@lokario.example"]);
    expect(parsed.references).toEqual(["first-contact@client.example", "devis-dev-2025-023@lokario.example"]);
  });
});

describe("parseMessage: attachments and hostile structure", () => {
  it("lists attachments with name, MIME type, size and Content-ID", async () => {
    const parsed = await parseFixture("attachments-pdf-image.eml");
    expect(parsed.text).toBe("Ci-joint la facture signée et une photo.");
    expect(parsed.attachments.map(({ fileName, mimeType, sizeBytes, contentId }) => ({ fileName, mimeType, sizeBytes, contentId }))).toEqual([
      { fileName: "Facture FAC-2025-014.pdf", mimeType: "application/pdf", sizeBytes: 48, contentId: null },
      { fileName: "photo châssis.png", mimeType: "image/png", sizeBytes: 70, contentId: "photo-1@client.example" },
    ]);
  });

  it("drops the directory part of attachment names that try path traversal", async () => {
    const parsed = await parseFixture("hostile-attachment-name.eml");
    expect(parsed.attachments.map((a) => a.fileName)).toEqual(["passwd", "authorized_keys", "win.ini"]);
  });

  it("survives 2,000 nested multiparts, keeping the headers and saying which parts were not read", async () => {
    let body = "";
    for (let i = 0; i < 2000; i++) body += `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n`;
    body += "Content-Type: text/plain\r\n\r\ndeep\r\n";
    for (let i = 1999; i >= 0; i--) body += `--b${i}--\r\n`;
    const source = Buffer.from(`From: a@evil.example\r\nSubject: deep\r\nMessage-ID: <deep@evil.example>\r\n${body}`);
    const parsed = await parse(source);
    expect(parsed.subject).toBe("deep");
    expect(parsed.notes.join(" ")).toMatch(/MIME parts beyond the first 500 \(or nested too deep\) not read/);
  });

  it(`keeps the text and the first ${MAX_ATTACHMENTS_PER_MESSAGE} attachments of a message of ${MAX_MIME_PARTS + 100} parts`, async () => {
    const files = Array.from({ length: MAX_MIME_PARTS + 100 }, (_, i) =>
      `--x\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=f${i}.pdf\r\n\r\n%PDF\r\n`).join("");
    // The text comes last, after every file, as some mailing tools write it.
    const text = "--x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nVoici les 600 bons de livraison.\r\n";
    const source = Buffer.from(`From: a@b.example\r\nSubject: bons\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n${files}${text}--x--\r\n`);
    const parsed = await parse(source);
    expect(parsed.text).toBe("Voici les 600 bons de livraison.");
    expect(parsed.attachments).toHaveLength(MAX_ATTACHMENTS_PER_MESSAGE);
    expect(parsed.attachments[99]).toMatchObject({ fileName: "f99.pdf", sizeBytes: 4 });
    expect(parsed.attachmentsOmitted).toBe(MAX_MIME_PARTS + 100 - MAX_ATTACHMENTS_PER_MESSAGE);
    expect(parsed.notes.join(" ")).toMatch(/MIME parts beyond the first 500/);
  });

  it("keeps the body of a message with a 1 MB header line, cutting that line", async () => {
    const source = Buffer.from(
      `From: a@b.example\r\nSubject: long\r\nX-Tracking: ${"a".repeat(1024 * 1024)}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLe devis signé est joint.\r\n`,
    );
    const parsed = await parse(source);
    expect(parsed.subject).toBe("long");
    expect(parsed.text).toBe("Le devis signé est joint.");
    expect(parsed.notes).toContain("1 overlong header lines cut");
  });

  it("keeps the attachment after a part whose header block is over 1 MB", async () => {
    const junk = Array.from({ length: 40_000 }, (_, i) => `X-Junk-${i}: ${"b".repeat(30)}\r\n`).join("");
    const source = Buffer.from(
      "From: a@b.example\r\nSubject: junk\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" +
        `--x\r\n${junk}Content-Type: text/plain; charset=utf-8\r\n\r\nBonjour.\r\n` +
        "--x\r\nContent-Type: application/pdf; name=devis.pdf\r\n\r\n%PDF\r\n--x--\r\n",
    );
    const parsed = await parse(source);
    expect(parsed.text).toBe("Bonjour.");
    expect(parsed.attachments.map((a) => a.fileName)).toEqual(["devis.pdf"]);
  });

  it(`keeps the first ${MAX_ATTACHMENTS_PER_MESSAGE} attachments of a message and counts the rest`, async () => {
    const parts = Array.from({ length: 130 }, (_, i) =>
      `--x\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f${i}.bin\r\n\r\nabc\r\n`).join("");
    const source = Buffer.from(`From: a@b.example\r\nSubject: many\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n${parts}--x--\r\n`);
    const parsed = await parse(source);
    expect(parsed.attachments).toHaveLength(MAX_ATTACHMENTS_PER_MESSAGE);
    expect(parsed.attachmentsOmitted).toBe(30);
  });

  it("says a binary Outlook .msg file is not an e-mail (corpus mail_outlook_1)", async () => {
    const parsed = await parse(await readFile(new URL("mail_outlook_1.eml", CORPUS_DIR)));
    expect(parsed.isMailMessage).toBe(false);
  });

  it.each([
    ["an empty buffer", Buffer.alloc(0)],
    ["a blank line only", Buffer.from("\r\n\r\n")],
    ["random bytes", Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256))],
    ["headers without a body", Buffer.from("From: a@b.example\r\nSubject: x")],
    ["a broken boundary (corpus mail_malformed_3 style)", Buffer.from("From: a@b.example\r\nContent-Type: multipart/alternative; boundary=nope\r\n\r\n--other\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n")],
  ])("does not throw on %s", async (_name, source) => {
    await expect(parse(source)).resolves.toHaveProperty("attachments");
  });

  it("gives some readable text for 5 MB of HTML without spending minutes converting it", async () => {
    const html = `<html><body>${"<div><p>Ligne de <b>catalogue</b> &eacute;t&eacute;</p></div>".repeat(90_000)}</body></html>`;
    const source = Buffer.from(`From: a@b.example\r\nSubject: catalogue\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}`);
    const startedAt = Date.now();
    const parsed = await parse(source);
    expect(Date.now() - startedAt).toBeLessThan(15_000);
    expect(parsed.text).toContain("Ligne de catalogue été");
    expect(parsed.html?.length).toBeGreaterThan(5_000_000);
  });

  it("reads the headers of an oversize message whose body was not downloaded", async () => {
    const full = buildEml({ subject: "Plans du chantier", messageId: "<big@client.example>" });
    const headerOnly = full.subarray(0, full.indexOf("\r\n\r\n") + 4);
    const parsed = await parseMessage(headerOnly, { now, internalDate: null, isHeaderOnly: true });
    expect(parsed).toMatchObject({ subject: "Plans du chantier", messageId: "big@client.example", text: "" });
  });
});
