// Every message of the real-world corpus (tests/fixtures/corpus/spamscope: spam, Outlook, GB2312, broken
// MIME, a binary .msg, a 1.5 MB message), read in place and stored through each database driver.

import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inboxMessages } from "../../lib/db/schema.js";
import { JobError } from "../../lib/errors.js";
import { storeMessage } from "../../lib/inbox/store-message.js";
import { silentLogger } from "../../lib/log.js";
import { DRIVERS, useDatabase } from "../support/databases.js";
import { buildEml, CORPUS_DIR, createCompanyWithMailbox, createTempStorage, incoming, type TempStorage } from "./message-kit.js";

const CORPUS_FILES = readdirSync(fileURLToPath(CORPUS_DIR)).filter((f) => f.endsWith(".eml")).sort();
/** Not an e-mail at all: an Outlook .msg (OLE compound file) saved with an .eml name. */
const EXPECTED_REJECTED = ["mail_outlook_1.eml"];

describe.each(DRIVERS)("the spamscope corpus stored through %s", (driver) => {
  const database = useDatabase(driver);
  let temp: TempStorage;
  beforeAll(async () => {
    temp = await createTempStorage();
  });
  afterAll(async () => {
    await temp.remove();
  });

  it("stores every message or rejects it as bad input with a reason, once, and then stores the next mail", async () => {
    expect(CORPUS_FILES).toHaveLength(23);
    const mailbox = await createCompanyWithMailbox(database.db);
    const deps = { now: new Date("2025-02-10T12:00:00Z"), storage: temp.storage, maxAttachmentBytes: 512 * 1024, log: silentLogger };
    const rejected: string[] = [];
    for (const name of CORPUS_FILES) {
      const message = incoming(mailbox, await readFile(new URL(name, CORPUS_DIR)));
      try {
        expect((await storeMessage(database.db, message, deps)).status, name).toBe("stored");
        expect((await storeMessage(database.db, message, deps)).status, name).toBe("duplicate");
      } catch (err) {
        expect(err, name).toBeInstanceOf(JobError);
        expect((err as JobError).kind, name).toBe("bad-input");
        expect((err as JobError).message.length, name).toBeGreaterThan(10);
        rejected.push(name);
      }
    }
    expect(rejected).toEqual(EXPECTED_REJECTED);
    expect((await storeMessage(database.db, incoming(mailbox, buildEml()), deps)).status).toBe("stored");
    const rows = await database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, mailbox.id));
    expect(rows).toHaveLength(CORPUS_FILES.length - EXPECTED_REJECTED.length + 1);
    expect(rows.every((r) => (r.content ?? "").length > 0)).toBe(true);
  });
});
