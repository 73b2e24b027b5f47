// The bucket store against a real S3-API server (s3rver): content streamed in parts, exact bytes
// back, nothing visible after a failed upload, keys and paths confined, signed download addresses.

import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { buffer, text } from "node:stream/consumers";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config.js";
import { attachmentStorageFor, createDatabaseStorage } from "../../lib/storage/attachment-storage.js";
import { createS3Storage } from "../../lib/storage/s3-storage.js";
import { PART_SIZE_BYTES } from "../../lib/storage/upload-in-parts.js";
import { signedAttachmentUrl } from "../../lib/storage/signed-attachment-url.js";
import { testConfig } from "../support/config.js";
import { useDatabase } from "../support/databases.js";
import { createTestBucket, type TestBucket, testS3Client } from "../support/s3-bucket.js";
import { startS3Front, type S3Front } from "../support/s3-server.js";
import { inject } from "vitest";

describe("attachment storage in an S3 bucket", () => {
  let bucket: TestBucket;
  let front: S3Front;
  beforeAll(async () => {
    bucket = createTestBucket();
    front = await startS3Front(inject("s3Port"));
  });
  afterAll(async () => front.close());

  const storage = () => createS3Storage(loadConfig({ ...bucket.env(front.port), ATTACHMENTS_STORAGE: "s3" }).s3!);
  const exists = async (key: string) =>
    testS3Client().send(new HeadObjectCommand({ Bucket: bucket.name, Key: key })).then(() => true, () => false);

  it("stores a buffer and a stream, binary-exact, under s3://<bucket>/<key>, and reads them back", async () => {
    const binary = Buffer.from([0, 1, 2, 250, 251, 255, 0x0d, 0x0a]);
    const stored = await storage().put("attachments/1/abc/0-bin", binary);
    expect(stored).toEqual({ path: `s3://${bucket.name}/attachments/1/abc/0-bin`, sizeBytes: 8 });
    expect(Buffer.compare(await buffer(storage().open(stored.path)), binary)).toBe(0);
    const streamed = await storage().put("attachments/1/abc/1-b.txt", Readable.from([Buffer.from("un "), Buffer.from("flux")]));
    expect(streamed.sizeBytes).toBe(7);
    expect(await text(storage().open(streamed.path))).toBe("un flux");
  });

  it("uploads a large stream in parts as it is read (a multipart upload), and the object is whole", async () => {
    const content = randomBytes(2 * PART_SIZE_BYTES + 12_345);
    const pieces = Readable.from((function* () {
      for (let at = 0; at < content.length; at += 1024 * 1024) yield content.subarray(at, at + 1024 * 1024);
    })());
    const before = front.requests.length;
    const stored = await storage().put("attachments/1/big/0-scan.pdf", pieces);
    expect(stored.sizeBytes).toBe(content.length);
    const seen = front.requests.slice(before);
    expect(seen.filter((r) => r.method === "POST" && "uploads" in r.query)).toHaveLength(1);
    expect(seen.filter((r) => r.method === "PUT" && r.query.partNumber).map((r) => r.query.partNumber)).toEqual(["1", "2", "3"]);
    expect(Buffer.compare(await buffer(storage().open(stored.path)), content)).toBe(0);
  });

  it("replaces the content of a key written again (a retried import)", async () => {
    await storage().put("k/again.bin", Buffer.from("old content"));
    const again = await storage().put("k/again.bin", Buffer.from("new"));
    expect(await text(storage().open(again.path))).toBe("new");
  });

  it("leaves nothing under the key, and aborts the multipart upload, when the content fails after its first part", async () => {
    const failing = Readable.from((async function* () {
      yield randomBytes(PART_SIZE_BYTES + 1000);
      yield randomBytes(1000);
      throw new Error("connection to the mail server lost");
    })());
    const before = front.requests.length;
    await expect(storage().put("k/broken.bin", failing)).rejects.toThrow("connection to the mail server lost");
    expect(await exists("k/broken.bin")).toBe(false);
    expect(front.requests.slice(before).some((r) => r.method === "DELETE" && r.query.uploadId)).toBe(true);
  });

  it("removes an object, and removing one that is not there is not an error", async () => {
    const { path } = await storage().put("k/gone.txt", Buffer.from("x"));
    await storage().remove(path);
    expect(await exists("k/gone.txt")).toBe(false);
    await storage().remove(path);
  });

  it.each(["../escape", "/etc/passwd", "a/../../b", "a\\b", "a//b", "nul\0byte"])("refuses the unsafe key %j", async (key) => {
    await expect(storage().put(key, Buffer.from("x"))).rejects.toThrow(/unsafe attachment storage key/);
  });

  it("refuses paths of another bucket or store, and keys escaping through the path", () => {
    expect(() => storage().open("s3://another-bucket/attachments/1/x")).toThrow(/not a path of the bucket/);
    expect(() => storage().open("db:attachments/1/x")).toThrow(/not a path of the bucket/);
    expect(() => storage().open(`s3://${bucket.name}/../x`)).toThrow(/unsafe/);
  });

  it("answers a signed address with the file, named and typed, and refuses it once expired or altered", async () => {
    const config = loadConfig({ ...bucket.env(), ATTACHMENTS_STORAGE: "s3" });
    const { path } = await storage().put("attachments/1/abc/2-facture.pdf", Buffer.from("%PDF-1.4 facture"));
    const url = await signedAttachmentUrl(config, path, { fileName: "Facture mars.pdf", mimeType: "application/pdf" });
    expect(url).not.toContain(config.s3!.secretAccessKey);
    const answer = await fetch(url);
    expect(answer.status).toBe(200);
    expect(await answer.text()).toBe("%PDF-1.4 facture");
    expect(answer.headers.get("content-type")).toBe("application/pdf");
    expect(answer.headers.get("content-disposition")).toBe('attachment; filename="Facture mars.pdf"');
    // A name beyond ASCII goes in RFC 8187 form, inside the signed query. (Not fetched: s3rver
    // canonicalises the query with encodeURIComponent, which leaves the form's `'` unescaped where
    // Signature V4 and the SDK escape it, so it refuses such addresses that S3 itself accepts.)
    const accented = new URL(await signedAttachmentUrl(config, path, { fileName: "Facture été.pdf" }));
    expect(accented.searchParams.get("response-content-disposition")).toBe(`attachment; filename="Facture ete.pdf"; filename*=UTF-8''Facture%20%C3%A9t%C3%A9.pdf`);

    const signedLongAgo = await signedAttachmentUrl(config, path, { expiresInSeconds: 300, now: new Date(Date.now() - 2 * 3600_000) });
    expect((await fetch(signedLongAgo)).status).toBe(403);
    // Another file with the same signature: refused.
    expect((await fetch(url.replace("2-facture.pdf", "0-bin"))).status).toBe(403);
    await expect(signedAttachmentUrl(config, path, { expiresInSeconds: 7 * 86_400 })).rejects.toThrow(/expiresInSeconds/);
    await expect(signedAttachmentUrl(config, "db:attachments/1/x")).rejects.toThrow(/not a path of the bucket/);
  });
});

describe("attachment storage choice with a bucket", () => {
  const database = useDatabase("pg");
  let bucket: TestBucket;
  beforeAll(async () => {
    bucket = createTestBucket();
  });

  it("takes the bucket by default once one is configured, on the platforms and elsewhere, unless told otherwise", () => {
    const netlifyAtRunTime = { URL: "https://site.netlify.app", SITE_NAME: "site", SITE_ID: "1d01c0c0-4554-4747-93b8-34ce3448ab95" };
    // A platform's function runs under production's rules: a database URL, a bucket over https.
    const platformBucket = { DATABASE_URL: "postgres://db.example.test/x", S3_ENDPOINT: "https://s3.example.test" };
    expect(loadConfig({ ...bucket.env(), ...platformBucket, VERCEL: "1" }).attachmentsStorage).toBe("s3");
    expect(loadConfig({ ...bucket.env(), ...platformBucket, ...netlifyAtRunTime }).attachmentsStorage).toBe("s3");
    expect(loadConfig(bucket.env()).attachmentsStorage).toBe("s3");
    expect(loadConfig({ ...bucket.env(), ...platformBucket, VERCEL: "1", ATTACHMENTS_STORAGE: "database" }).attachmentsStorage).toBe("database");
    expect(loadConfig({ DATABASE_URL: "postgres://db.example.test/x", VERCEL: "1" }).attachmentsStorage).toBe("database");
  });

  it("refuses an incomplete or unsafe bucket configuration, naming the variables and never their values", () => {
    const env = bucket.env();
    const secret = env.S3_SECRET_ACCESS_KEY!;
    const failure = (extra: Record<string, string | undefined>) => {
      try {
        loadConfig({ ...env, ...extra });
      } catch (err) {
        return (err as Error).message;
      }
      return "accepted";
    };
    expect(failure({ S3_SECRET_ACCESS_KEY: undefined })).toBe("S3_BUCKET needs S3_SECRET_ACCESS_KEY");
    expect(failure({ S3_REGION: "", S3_ACCESS_KEY_ID: "" })).toBe("S3_BUCKET needs S3_REGION, S3_ACCESS_KEY_ID");
    expect(failure({ S3_BUCKET: "Not_A_Bucket" })).toMatch(/S3_BUCKET is not a valid bucket name/);
    expect(failure({ S3_BUCKET: undefined, ATTACHMENTS_STORAGE: "s3" })).toMatch(/ATTACHMENTS_STORAGE=s3 needs S3_BUCKET/);
    expect(failure({ S3_ENDPOINT: `http://key:${secret}@127.0.0.1:9000` })).toMatch(/no path, query or credentials/);
    expect(failure({ S3_ENDPOINT: "http://127.0.0.1:9000/bucket" })).toMatch(/no path, query or credentials/);
    expect(failure({ S3_ENDPOINT: "http://s3.example.test", NODE_ENV: "production", DATABASE_URL: "postgres://db.example.test/x" })).toBe("S3_ENDPOINT must use https in production");
    expect(failure({ S3_ENDPOINT: "not a url" })).toBe("invalid environment variables: S3_ENDPOINT");
    for (const extra of [{ S3_SECRET_ACCESS_KEY: undefined }, { S3_ENDPOINT: `http://key:${secret}@127.0.0.1:9000` }]) {
      expect(failure(extra)).not.toContain(secret);
    }
  });

  it("reads and deletes each file from the store its path names, whichever store takes new files", async () => {
    const inBucket = await attachmentStorageFor(testConfig(database, { ...bucket.env(), ATTACHMENTS_STORAGE: "s3" }), database.db)
      .put("attachments/9/x/0-a.txt", Buffer.from("dans le bucket"));
    const inDatabase = await createDatabaseStorage(database.db).put("attachments/9/x/1-b.txt", Buffer.from("dans la base"));
    expect(inBucket.path).toMatch(/^s3:\/\//);
    for (const store of ["database", "local", "s3"]) {
      const storage = attachmentStorageFor(testConfig(database, { ...bucket.env(), ATTACHMENTS_STORAGE: store, ATTACHMENTS_DIR: "/nonexistent" }), database.db);
      expect(await text(storage.open(inBucket.path))).toBe("dans le bucket");
      expect(await text(storage.open(inDatabase.path))).toBe("dans la base");
    }
    const withoutBucket = attachmentStorageFor(testConfig(database, { ATTACHMENTS_STORAGE: "database" }), database.db);
    expect(() => withoutBucket.open(inBucket.path)).toThrow(/no bucket is configured/);
  });
});
