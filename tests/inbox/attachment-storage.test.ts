import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { text } from "node:stream/consumers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTempStorage, type TempStorage } from "./message-kit.js";

describe("local attachment storage", () => {
  let temp: TempStorage;
  beforeEach(async () => {
    temp = await createTempStorage();
  });
  afterEach(async () => {
    await temp.remove();
  });

  it("stores a buffer and a stream and reads them back with their size", async () => {
    const fromBuffer = await temp.storage.put("attachments/1/abc/0-a.txt", Buffer.from("première"));
    expect(fromBuffer).toEqual({ path: "attachments/1/abc/0-a.txt", sizeBytes: 9 });
    const fromStream = await temp.storage.put("attachments/1/abc/1-b.txt", Readable.from([Buffer.from("un "), Buffer.from("flux")]));
    expect(fromStream.sizeBytes).toBe(7);
    expect(await text(temp.storage.open(fromBuffer.path))).toBe("première");
    expect(await text(temp.storage.open(fromStream.path))).toBe("un flux");
  });

  it("replaces the content when the same key is written again (a retried import)", async () => {
    await temp.storage.put("k/file.bin", Buffer.from("old content"));
    await temp.storage.put("k/file.bin", Buffer.from("new"));
    expect(await readFile(join(temp.dir, "k/file.bin"), "utf8")).toBe("new");
    expect(await readdir(join(temp.dir, "k"))).toEqual(["file.bin"]);
  });

  it("leaves nothing behind when the content stream fails halfway", async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.from("partial"));
        this.destroy(new Error("connection lost"));
      },
    });
    await expect(temp.storage.put("k/broken.bin", failing)).rejects.toThrow("connection lost");
    expect(await readdir(join(temp.dir, "k"))).toEqual([]);
  });

  it.each([
    "../escape.txt",
    "a/../../escape.txt",
    "/etc/passwd",
    "a\\..\\..\\escape.txt",
    "a//b",
    "./a",
    "a/./b",
    ".hidden/../x",
    "a\u0000b",
    "",
  ])("refuses the key %j, so nothing can be written outside the store", async (key) => {
    await expect(temp.storage.put(key, Buffer.from("x"))).rejects.toThrow(/unsafe attachment storage key/);
    expect(() => temp.storage.open(key)).toThrow(/unsafe attachment storage key/);
    expect(existsSync(join(temp.dir, "..", "escape.txt"))).toBe(false);
  });
});
