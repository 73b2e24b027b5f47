import { Readable } from "node:stream";
import { buffer, text } from "node:stream/consumers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config.js";
import { messageAttachments, inboxMessages, storedFiles } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { attachmentStorageFor, createDatabaseStorage } from "../../lib/storage/attachment-storage.js";
import { testConfig } from "../support/config.js";
import { DRIVERS, createTestDatabase, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration } from "../support/mailbox.js";

describe.each(DRIVERS)("attachment storage in the database through %s", (driver) => {
  const database = useDatabase(driver);

  it("stores a buffer and a stream, binary-exact, and reads them back", async () => {
    const storage = createDatabaseStorage(database.db);
    const binary = Buffer.from([0, 1, 2, 250, 251, 255, 0x0d, 0x0a]);
    const stored = await storage.put(`k/${driver}/bin`, binary);
    expect(stored).toEqual({ path: `db:k/${driver}/bin`, sizeBytes: 8 });
    expect(Buffer.compare(await buffer(storage.open(stored.path)), binary)).toBe(0);
    const streamed = await storage.put(`k/${driver}/stream.txt`, Readable.from([Buffer.from("un "), Buffer.from("flux")]));
    expect(await text(storage.open(streamed.path))).toBe("un flux");
  });

  it("replaces the content of a key written again (a retried import), leaving one row", async () => {
    const storage = createDatabaseStorage(database.db);
    await storage.put(`again/${driver}`, Buffer.from("old content"));
    const again = await storage.put(`again/${driver}`, Buffer.from("new"));
    expect(await text(storage.open(again.path))).toBe("new");
    expect(await database.db.select().from(storedFiles).where(eq(storedFiles.key, `again/${driver}`))).toHaveLength(1);
  });

  it("refuses unsafe keys and says so when a path has no content", async () => {
    const storage = createDatabaseStorage(database.db);
    await expect(storage.put("../escape", Buffer.from("x"))).rejects.toThrow(/unsafe/);
    await expect(text(storage.open("db:nothing/here"))).rejects.toThrow(/no stored content/);
  });
});

describe("attachment storage choice", () => {
  it("keeps attachments in the database on Vercel and Netlify, whose disks do not last, unless told otherwise", () => {
    expect(loadConfig({}).attachmentsStorage).toBe("local");
    expect(loadConfig({ DATABASE_URL: "postgres://db.example.test/x", VERCEL: "1" }).attachmentsStorage).toBe("database");
    expect(loadConfig({ DATABASE_URL: "postgres://db.example.test/x", NETLIFY: "true" }).attachmentsStorage).toBe("database");
    expect(loadConfig({ DATABASE_URL: "postgres://db.example.test/x", VERCEL: "1", ATTACHMENTS_STORAGE: "local" }).attachmentsStorage).toBe("local");
  });

  it("knows a Netlify function by the variables Netlify sets at run time (NETLIFY is a build variable only)", () => {
    const netlifyAtRunTime = { URL: "https://site.netlify.app", SITE_NAME: "site", SITE_ID: "1d01c0c0-4554-4747-93b8-34ce3448ab95", DATABASE_URL: "postgres://db.example.test/x" };
    expect(loadConfig(netlifyAtRunTime).platform).toBe("netlify");
    expect(loadConfig(netlifyAtRunTime).attachmentsStorage).toBe("database");
    expect(loadConfig(netlifyAtRunTime).fanout.baseUrl).toBe("https://site.netlify.app");
    expect(loadConfig({ URL: "https://example.test" }).platform).toBe("node");
  });

  it("imports a mail's attachment into the database when ATTACHMENTS_STORAGE=database, readable back", async () => {
    const database = await createTestDatabase("pg");
    try {
      const mailbox = await createMailbox();
      const pdf = Buffer.from("%PDF-1.4\nfacture\n%%EOF\n");
      await mailbox.append(
        [
          "From: Client <client@example.test>", "To: contact@lokario.test", "Subject: Facture jointe",
          `Date: ${new Date().toUTCString()}`, "Message-ID: <facture-db@example.test>", "MIME-Version: 1.0",
          'Content-Type: multipart/mixed; boundary="b"', "", "--b", "Content-Type: text/plain; charset=utf-8", "",
          "Voici la facture.", "--b", 'Content-Type: application/pdf; name="facture.pdf"',
          'Content-Disposition: attachment; filename="facture.pdf"', "Content-Transfer-Encoding: base64", "",
          pdf.toString("base64"), "--b--", "",
        ].join("\r\n"),
      );
      await insertIntegration(database.db, mailbox);
      const config = testConfig(database, { ATTACHMENTS_STORAGE: "database", ATTACHMENTS_DIR: "/nonexistent/never-written" });
      const summary = await runJob(syncAllJob, {}, { config, log: createLogger("test", { level: "silent" }), trigger: "test" });
      expect(summary.messagesImported).toBe(1);
      const [attachment] = await database.db
        .select()
        .from(messageAttachments)
        .innerJoin(inboxMessages, eq(inboxMessages.id, messageAttachments.messageId));
      expect(attachment!.message_attachments).toMatchObject({ name: "facture.pdf", fileType: "pdf", isStored: true });
      const content = await buffer(attachmentStorageFor(config, database.db).open(attachment!.message_attachments.filePath!));
      expect(Buffer.compare(content, pdf)).toBe(0);
    } finally {
      await database.drop();
    }
  });
});
