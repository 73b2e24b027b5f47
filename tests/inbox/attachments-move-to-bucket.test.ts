// Moving the database store's files (`stored_files`) into a bucket, on a real S3-API server behind a
// front that fails on demand: every file checked before its rows change, nothing lost or uploaded
// twice when the move is cut (the store failing, the process killed), and a copy that does not read
// back as sent, or a file rewritten meanwhile, left in the database.

import { randomBytes } from "node:crypto";
import { buffer } from "node:stream/consumers";
import { eq, isNotNull } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { inboxQuarantine, messageAttachments, storedFiles } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { attachmentStorageFor, createDatabaseStorage } from "../../lib/storage/attachment-storage.js";
import { moveStoredFilesToBucket } from "../../lib/storage/move-to-bucket.js";
import { createS3Storage } from "../../lib/storage/s3-storage.js";
import { startCli } from "../endpoints/run-cli.js";
import { testConfig, testEnv } from "../support/config.js";
import { type TestDatabase, useDatabase } from "../support/databases.js";
import { createMailbox, insertIntegration } from "../support/mailbox.js";
import { waitFor } from "../support/ports.js";
import { createTestBucket, type TestBucket } from "../support/s3-bucket.js";
import { type S3Front, startS3Front } from "../support/s3-server.js";

describe("moving the database store's files into a bucket", () => {
  const database: TestDatabase = useDatabase("pg", { scope: "test" });
  let bucket: TestBucket;
  let front: S3Front;
  beforeAll(async () => {
    front = await startS3Front(inject("s3Port"));
  });
  afterAll(async () => front.close());

  const log = createLogger("test", { level: "silent" });
  const bucketStorage = () => createS3Storage(testConfig(database, bucket.env(front.port)).s3!);
  const move = (batchFiles = 2) => moveStoredFilesToBucket(database.db, bucketStorage(), { log, batchFiles });

  /**
   * A mailbox imported with the database store: attachments (one of 6 MB), a set-aside message's
   * raw bytes, and a file no row names. Returns every file's content by key.
   */
  async function importIntoDatabase(): Promise<Map<string, Buffer>> {
    bucket = createTestBucket();
    const mailbox = await createMailbox();
    await mailbox.appendAll([
      { raw: mailWith([["devis.pdf", randomBytes(2_000)], ["photo.jpg", randomBytes(30_000)]]) },
      { raw: mailWith([["scan.tiff", randomBytes(6 * 1024 * 1024)]]) },
      { raw: mailWith([["notes.txt", Buffer.from("À rappeler lundi.\n")]]) },
      { raw: Buffer.from("\u0001 this is not an e-mail at all \u0002\r\n") },
    ]);
    await insertIntegration(database.db, mailbox, { values: { initialSyncMaxMessages: 10, initialSyncDays: 36_500 } });
    const summary = await runJob(syncAllJob, {}, { config: testConfig(database, { ATTACHMENTS_STORAGE: "database" }), log, trigger: "test" });
    expect(summary).toMatchObject({ messagesImported: 3, messagesSetAside: 1 });
    await createDatabaseStorage(database.db).put("attachments/orphan/0-left-behind.bin", randomBytes(500));
    const files = await database.db.select().from(storedFiles);
    expect(files).toHaveLength(6);
    return new Map(files.map((f) => [f.key, f.content]));
  }

  /** The paths the rows give, by file key (database or bucket form alike). */
  async function rowPaths(): Promise<Map<string, string>> {
    const attachments = await database.db.select({ path: messageAttachments.filePath }).from(messageAttachments).where(isNotNull(messageAttachments.filePath));
    const setAside = await database.db.select({ path: inboxQuarantine.rawPath }).from(inboxQuarantine).where(isNotNull(inboxQuarantine.rawPath));
    return new Map([...attachments, ...setAside].map(({ path }) => [path!.replace(/^db:|^s3:\/\/[^/]+\//, ""), path!]));
  }

  /**
   * Whatever the moment of a cut: a file still in the database has its rows naming the database;
   * a file gone from it is in the bucket, byte-exact, with its rows naming the bucket.
   */
  async function expectEachFileInOnePlace(originals: Map<string, Buffer>): Promise<{ moved: number }> {
    const left = new Set((await database.db.select({ key: storedFiles.key }).from(storedFiles)).map((f) => f.key));
    const paths = await rowPaths();
    const reader = attachmentStorageFor(testConfig(database, bucket.env()), database.db);
    let moved = 0;
    for (const [key, content] of originals) {
      const isOrphan = key.startsWith("attachments/orphan/");
      if (left.has(key)) {
        if (!isOrphan) expect(paths.get(key)).toBe(`db:${key}`);
        continue;
      }
      moved++;
      const path = `s3://${bucket.name}/${key}`;
      if (!isOrphan) expect(paths.get(key)).toBe(path);
      expect(Buffer.compare(await buffer(reader.open(path)), content)).toBe(0);
    }
    return { moved };
  }

  /** Uploads that reached the store, by key. */
  const uploadsByKey = () => {
    const counts = new Map<string, number>();
    for (const r of front.requests) {
      if (r.method !== "PUT" || !r.isForwarded || !r.path.startsWith(`/${bucket.name}/`)) continue;
      const key = r.path.slice(bucket.name.length + 2);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return counts;
  };

  it("moves every file once the store stops refusing mid-way: each checked before its rows change, none uploaded twice", async () => {
    const originals = await importIntoDatabase();
    let uploads = 0;
    front.refuse((r) => r.method === "PUT" && ++uploads > 3, "hang-up");

    const cut = await move();
    expect(cut).toMatchObject({ moved: 3, failed: [], remaining: 3 });
    expect(cut.stoppedBy).toMatch(/bucket upload of .* failed/);
    expect(await expectEachFileInOnePlace(originals)).toEqual({ moved: 3 });

    front.heal();
    const resumed = await move();
    expect(resumed).toMatchObject({ moved: 3, alreadyUploaded: 0, failed: [], remaining: 0 });
    expect(resumed.stoppedBy).toBeUndefined();
    expect(await expectEachFileInOnePlace(originals)).toEqual({ moved: 6 });
    expect(uploadsByKey()).toEqual(new Map([...originals.keys()].map((key) => [key, 1])));
  });

  it("keeps in the database, rows unchanged, a file whose copy reads back altered, and moves it once it reads back whole, without uploading it again", async () => {
    const originals = await importIntoDatabase();
    front.alterReads();
    const altered = await move();
    expect(altered).toMatchObject({ moved: 0, remaining: 6 });
    expect(altered.failed.map((f) => f.key).sort()).toEqual([...originals.keys()].sort());
    expect(altered.failed[0]!.reason).toMatch(/reads back as \d+ bytes, SHA-256 [0-9a-f]{12}…, not \d+ bytes/);
    expect(await expectEachFileInOnePlace(originals)).toEqual({ moved: 0 });

    front.heal();
    expect(await move()).toMatchObject({ moved: 6, alreadyUploaded: 6, failed: [], remaining: 0 });
    expect(await expectEachFileInOnePlace(originals)).toEqual({ moved: 6 });
    expect([...uploadsByKey().values()]).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("leaves for the next run a file rewritten in the database while it was being checked (a retried import)", async () => {
    const originals = await importIntoDatabase();
    const [key] = [...originals.keys()].filter((k) => k.startsWith("attachments/") && !k.includes("orphan"));
    const rewritten = Buffer.from("contenu réécrit pendant le déplacement");
    front.beforeForwarding(async (r) => {
      if (r.method === "GET" && r.path === `/${bucket.name}/${key}`) {
        await database.db.update(storedFiles).set({ content: rewritten, sizeBytes: rewritten.length }).where(eq(storedFiles.key, key!));
      }
    });
    expect(await move()).toMatchObject({ moved: 5, failed: [], remaining: 1 });
    originals.set(key!, rewritten);
    expect(await expectEachFileInOnePlace(originals)).toEqual({ moved: 5 });

    front.heal();
    expect(await move()).toMatchObject({ moved: 1, alreadyUploaded: 0, remaining: 0 });
    expect(await expectEachFileInOnePlace(originals)).toEqual({ moved: 6 });
  });

  it("through the CLI: killed after an upload and before its check, run again, every file ends in the bucket once", async () => {
    const originals = await importIntoDatabase();
    const env = testEnv(database, { ...bucket.env(front.port), ATTACHMENTS_STORAGE: "s3", S3_TIMEOUT_MS: "60000" });
    // The third file's read-back never gets an answer: the process is held after its upload.
    let readBacks = 0;
    let isHeld = false;
    front.beforeForwarding((r) => {
      if (r.method !== "GET" || ++readBacks < 3) return;
      isHeld = true;
      return new Promise<void>(() => {});
    });
    const { child, result } = startCli(["attachments", "move-to-bucket", "--batch-files", "1"], env);
    try {
      await waitFor("the move to reach the third file's check", () => isHeld, 120_000);
    } finally {
      child.kill("SIGKILL");
    }
    expect((await result).code).toBeNull();
    front.heal();
    expect(await expectEachFileInOnePlace(originals)).toEqual({ moved: 2 });

    const again = await startCli(["attachments", "move-to-bucket"], env).result;
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`Moved 4 file(s)`);
    expect(again.stdout).toContain("1 of them already uploaded by a run that was cut.");
    expect(again.stdout).toContain("0 file(s) left in the database.");
    expect(again.stderr).not.toContain(env.S3_SECRET_ACCESS_KEY);
    expect(await expectEachFileInOnePlace(originals)).toEqual({ moved: 6 });
    expect([...uploadsByKey().values()]).toEqual([1, 1, 1, 1, 1, 1]);
    // Two starts of the CLI and an import: on a loaded machine, more than the default minute.
  }, 180_000);

  it("through the CLI: says so and changes nothing when no bucket is configured", async () => {
    const originals = await importIntoDatabase();
    const refused = await startCli(["attachments", "move-to-bucket"], testEnv(database, { ATTACHMENTS_STORAGE: "database" })).result;
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("no bucket is configured: set S3_BUCKET");
    expect(await expectEachFileInOnePlace(originals)).toEqual({ moved: 0 });
  });
});

/** A client's mail with these attachments (base64). */
function mailWith(files: [name: string, content: Buffer][]): string {
  const id = randomBytes(6).toString("hex");
  return [
    "From: Client <client@example.test>", "To: contact@lokario.test", `Subject: Pièces ${id}`,
    `Date: ${new Date().toUTCString()}`, `Message-ID: <${id}@client.example>`, "MIME-Version: 1.0",
    `Content-Type: multipart/mixed; boundary="b${id}"`, "", `--b${id}`, "Content-Type: text/plain; charset=utf-8", "",
    "Voici les pièces.",
    ...files.flatMap(([name, content]) => [
      `--b${id}`, `Content-Type: application/octet-stream; name="${name}"`, `Content-Disposition: attachment; filename="${name}"`,
      "Content-Transfer-Encoding: base64", "", content.toString("base64").replace(/.{76}/g, "$&\r\n"),
    ]),
    `--b${id}--`, "",
  ].join("\r\n");
}
