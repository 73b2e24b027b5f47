// The import with attachments in an S3 bucket, on a real S3-API server behind a front that fails on
// demand: a store that refuses a part mid-upload, goes away, hangs, or refuses the credentials
// stops the folder before the message, sets nothing aside, and the next run imports it whole.
// Credentials never appear in what is recorded or logged.

import { randomBytes } from "node:crypto";
import { buffer } from "node:stream/consumers";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { inboxIntegrations, inboxMessages, inboxQuarantine, messageAttachments } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { attachmentStorageFor } from "../../lib/storage/attachment-storage.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";
import { createTestBucket, type TestBucket, testS3Client } from "../support/s3-bucket.js";
import { anyRequest, isPart, type S3Front, startS3Front, TEST_S3_ACCESS_KEY_ID, TEST_S3_SECRET_ACCESS_KEY } from "../support/s3-server.js";

/** A scan of 12 MB: more than two parts of 5 MiB, so it goes up as a multipart upload. */
const SCAN = randomBytes(12 * 1024 * 1024);
const PDF = Buffer.from("%PDF-1.4\nfacture\n%%EOF\n");

describe("inbox sync with attachments in an S3 bucket", () => {
  const database = useDatabase("pg");
  let bucket: TestBucket;
  let front: S3Front;
  const logLines: string[] = [];
  beforeAll(async () => {
    bucket = createTestBucket();
    front = await startS3Front(inject("s3Port"));
  });
  afterAll(async () => {
    await front.close();
  });

  const sync = (integrationId: number, env: Record<string, string> = bucket.env(front.port)) =>
    runJob(syncAllJob, { integrationId }, {
      config: testConfig(database, { ...env, ATTACHMENTS_DIR: "/nonexistent/never-written" }),
      log: createLogger("test", { level: "debug", sink: (line) => logLines.push(line) }),
      trigger: "test",
    });
  const stored = (integrationId: number) =>
    database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, integrationId)).orderBy(inboxMessages.uid);
  const attachmentsOf = (messageId: number) =>
    database.db.select().from(messageAttachments).where(eq(messageAttachments.messageId, messageId)).orderBy(messageAttachments.id);
  const objectExists = (key: string) =>
    testS3Client().send(new HeadObjectCommand({ Bucket: bucket.name, Key: key })).then(() => true, () => false);

  /** Three messages: one before, one with a small PDF and the 12 MB scan, one after. */
  async function mailboxWithScan() {
    const mailbox = await createMailbox();
    const tag = randomBytes(4).toString("hex");
    await mailbox.appendAll([
      { raw: rawMail({ subject: "Avant", messageId: `avant-${tag}@client.example` }) },
      { raw: mailWithScan(`scan-${tag}@client.example`) },
      { raw: rawMail({ subject: "Après", messageId: `apres-${tag}@client.example` }) },
    ]);
    const { integrationId } = await insertIntegration(database.db, mailbox, { values: { initialSyncMaxMessages: 10, initialSyncDays: 36_500 } });
    return { integrationId, tag };
  }

  /** The folder stopped before the scan's message: the one before is stored, nothing after, nothing set aside. */
  async function expectStoppedBeforeScan(integrationId: number, tag: string) {
    expect((await stored(integrationId)).map((m) => m.externalId)).toEqual([`<avant-${tag}@client.example>`]);
    expect(await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId))).toHaveLength(0);
    const [integration] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    expect(integration!.lastSyncError).toMatch(/^attachment could not be stored: bucket upload of attachments\//);
  }

  /** The next run, the store healthy: all three stored, both attachments in the bucket, byte-exact. */
  async function expectImportedWhole(integrationId: number, tag: string) {
    front.heal();
    const next = await sync(integrationId);
    expect(next.integrations.failed).toBe(0);
    const all = await stored(integrationId);
    expect(all.map((m) => m.externalId)).toEqual([`<avant-${tag}@client.example>`, `<scan-${tag}@client.example>`, `<apres-${tag}@client.example>`]);
    const files = await attachmentsOf(all[1]!.id);
    expect(files.map((f) => [f.name, f.isStored, f.fileSize])).toEqual([["devis.pdf", true, PDF.length], ["scan.jpg", true, SCAN.length]]);
    for (const file of files) expect(file.filePath).toMatch(new RegExp(`^s3://${bucket.name}/attachments/${integrationId}/[0-9a-f]{40}/\\d-`));
    const storage = attachmentStorageFor(testConfig(database, bucket.env()), database.db);
    expect(Buffer.compare(await buffer(storage.open(files[1]!.filePath!)), SCAN)).toBe(0);
    expect(Buffer.compare(await buffer(storage.open(files[0]!.filePath!)), PDF)).toBe(0);
  }

  it("stops the folder before a message whose upload the store refuses at its second part, aborts that upload, and imports it whole on the next run", async () => {
    const { integrationId, tag } = await mailboxWithScan();
    const before = front.requests.length;
    front.refuse(isPart(2));

    const failed = await sync(integrationId);
    expect(failed.integrations.failed).toBe(1);
    await expectStoppedBeforeScan(integrationId, tag);
    const seen = front.requests.slice(before);
    // Part 1 went up, part 2 was refused (and tried again by the SDK), then the upload was aborted.
    expect(seen.filter((r) => r.query.partNumber === "1")).toHaveLength(1);
    expect(seen.filter((r) => r.query.partNumber === "2").length).toBeGreaterThanOrEqual(2);
    const aborts = seen.filter((r) => r.method === "DELETE" && r.query.uploadId);
    expect(aborts).toHaveLength(1);
    expect(await objectExists(aborts[0]!.path.slice(bucket.name.length + 2))).toBe(false);

    await expectImportedWhole(integrationId, tag);
  });

  it("stops the folder before the message when the store goes away mid-upload (connections cut from the second part on)", async () => {
    const { integrationId, tag } = await mailboxWithScan();
    const before = front.requests.length;
    let hasReachedPart2 = false;
    front.refuse((r) => (hasReachedPart2 ||= isPart(2)(r)), "hang-up");

    const failed = await sync(integrationId);
    expect(failed.integrations.failed).toBe(1);
    await expectStoppedBeforeScan(integrationId, tag);
    expect(front.requests.slice(before).some((r) => r.query.partNumber === "1")).toBe(true);

    await expectImportedWhole(integrationId, tag);
  });

  it("stops the folder before the message when the store hangs, once S3_TIMEOUT_MS has passed without an answer", async () => {
    const { integrationId, tag } = await mailboxWithScan();
    front.refuse(isPart(2), "stall");
    const failed = await sync(integrationId, { ...bucket.env(front.port), S3_TIMEOUT_MS: "300" });
    expect(failed.integrations.failed).toBe(1);
    await expectStoppedBeforeScan(integrationId, tag);
    await expectImportedWhole(integrationId, tag);
  });

  it("stops the folder when the store is unreachable or refuses the credentials, and never records or logs the secret key", async () => {
    const { integrationId, tag } = await mailboxWithScan();
    front.refuse(anyRequest, "hang-up");
    await sync(integrationId);
    await expectStoppedBeforeScan(integrationId, tag);
    front.heal();

    const wrongSecret = `${TEST_S3_SECRET_ACCESS_KEY}-wrong`;
    const refused = await sync(integrationId, { ...bucket.env(front.port), S3_SECRET_ACCESS_KEY: wrongSecret });
    expect(refused.integrations.failed).toBe(1);
    await expectStoppedBeforeScan(integrationId, tag);
    expect(refused.failures[0]!.reason).toMatch(/SignatureDoesNotMatch/);

    const [integration] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, integrationId));
    for (const text of [JSON.stringify(refused), integration!.lastSyncError ?? "", logLines.join("\n")]) {
      expect(text).not.toContain(TEST_S3_SECRET_ACCESS_KEY);
      expect(text).not.toContain(TEST_S3_ACCESS_KEY_ID);
    }
    expect(logLines.join("\n")).toMatch(/attachment could not be stored/);
    await expectImportedWhole(integrationId, tag);
  });

  it("keeps the raw bytes of a set-aside message in the bucket", async () => {
    const mailbox = await createMailbox();
    const garbage = Buffer.from("\u0001 this is not an e-mail at all \u0002\r\n");
    await mailbox.appendAll([{ raw: garbage }]);
    const { integrationId } = await insertIntegration(database.db, mailbox);
    const summary = await sync(integrationId);
    expect(summary.messagesSetAside).toBe(1);
    const [aside] = await database.db.select().from(inboxQuarantine).where(eq(inboxQuarantine.integrationId, integrationId));
    expect(aside!.rawPath).toBe(`s3://${bucket.name}/quarantine/${integrationId}/INBOX/${aside!.uidValidity}/1.eml`);
    const storage = attachmentStorageFor(testConfig(database, bucket.env()), database.db);
    expect((await buffer(storage.open(aside!.rawPath!))).equals(garbage)).toBe(true);
  });
});

function mailWithScan(messageId: string): string {
  return [
    "From: Client <client@example.test>", "To: contact@lokario.test", "Subject: Devis et scan",
    `Date: ${new Date().toUTCString()}`, `Message-ID: <${messageId}>`, "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b"', "", "--b", "Content-Type: text/plain; charset=utf-8", "",
    "Voici le devis et le scan.", "--b", 'Content-Type: application/pdf; name="devis.pdf"',
    'Content-Disposition: attachment; filename="devis.pdf"', "Content-Transfer-Encoding: base64", "",
    PDF.toString("base64"), "--b", 'Content-Type: image/jpeg; name="scan.jpg"',
    'Content-Disposition: attachment; filename="scan.jpg"', "Content-Transfer-Encoding: base64", "",
    SCAN.toString("base64").replace(/.{76}/g, "$&\r\n"), "--b--", "",
  ].join("\r\n");
}
