// Servers that renumber or lose messages between two commands, as GNU Mailutils imap4d 3.15 did with
// a Maildir whose messages were still in new/: every EXAMINE gave a new UIDVALIDITY (until a client
// opened the folder read-write), and a UID FETCH once came back without a message its UID SEARCH had
// just announced. Played by a proxy in front of Dovecot that rewrites those answers.

import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { inboxFolderCursors, inboxIntegrations, inboxMessages } from "../../lib/db/schema.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";
import { runJob } from "../../lib/jobs/run-job.js";
import { createLogger } from "../../lib/log.js";
import { testConfig } from "../support/config.js";
import { deactivateIntegrations, useDatabase } from "../support/databases.js";
import { type ImapRewriteProxy, startImapRewriteProxy } from "../support/imap-rewrite-proxy.js";
import { createMailbox, insertIntegration, rawMail } from "../support/mailbox.js";

const MINUTE_MS = 60_000;

describe("IMAP servers that renumber or lose messages between commands", () => {
  const database = useDatabase("pg", { afterEach: deactivateIntegrations });
  let proxy: ImapRewriteProxy;
  let clockMs = Date.now();
  let logLines: string[] = [];
  beforeAll(async () => {
    proxy = await startImapRewriteProxy(inject("dovecot"));
  });
  afterAll(() => proxy.close());

  const sync = async () => {
    const summary = await runJob(syncAllJob, {}, {
      config: testConfig(database),
      log: createLogger("test", { level: "info", sink: (line) => logLines.push(line) }),
      trigger: "test",
      now: () => new Date(clockMs),
    });
    clockMs += 6 * MINUTE_MS;
    return summary;
  };
  const connected = async () => {
    clockMs = Date.now();
    logLines = [];
    const mailbox = await createMailbox();
    const { integrationId } = await insertIntegration(database.db, mailbox, {
      transport: "tls", port: proxy.port, values: { syncedFolders: ["inbox"] },
    });
    return { mailbox, integrationId };
  };
  const integrationOf = async (id: number) => (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id)))[0]!;
  const cursorOf = async (id: number) => (await database.db.select().from(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, id)))[0]!;
  const messagesOf = (id: number) => database.db.select().from(inboxMessages).where(eq(inboxMessages.integrationId, id));
  const warnings = () => logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === "warn");

  it("keeps syncing a folder whose server gives a new UIDVALIDITY to every EXAMINE (GNU imap4d, Maildir new/), by opening it with SELECT, without touching a flag", async () => {
    const { mailbox, integrationId } = await connected();
    await mailbox.append(rawMail({ from: "Marie Curie <marie@client.test>", to: mailbox.user }));
    proxy.renumberReadOnlyOpens(true);
    try {
      for (let run = 1; run <= 5; run++) {
        if (run === 5) await mailbox.append(rawMail({ from: "Paul Langevin <paul@client.test>", to: mailbox.user }));
        expect(await sync(), `sync ${run}`).toMatchObject({ integrations: { succeeded: 1, failed: 0 } });
      }
    } finally {
      proxy.renumberReadOnlyOpens(false);
    }

    expect(await integrationOf(integrationId)).toMatchObject({ lastSyncStatus: "success", lastSyncError: null });
    expect(await messagesOf(integrationId)).toHaveLength(2);
    expect(await cursorOf(integrationId)).toMatchObject({ opensReadWrite: true, uidValidityChanges: 0, lastUid: 2 });
    // BODY.PEEK over SELECT: the messages are still unread on the server.
    expect([...(await mailbox.flags()).values()]).toEqual([[], []]);
    expect(proxy.opens().slice(-2)).toEqual(["SELECT", "SELECT"]);
  });

  it("warns and records it when a FETCH returns fewer messages than the UID SEARCH just announced", async () => {
    const { mailbox, integrationId } = await connected();
    await mailbox.appendAll([
      { raw: rawMail({ from: "Marie Curie <marie@client.test>", to: mailbox.user }) },
      { raw: rawMail({ from: "Paul Langevin <paul@client.test>", to: mailbox.user }) },
    ]);
    proxy.hideFetchOfUid(1);
    try {
      expect(await sync()).toMatchObject({ integrations: { succeeded: 1 } });
    } finally {
      proxy.hideFetchOfUid(undefined);
    }

    expect(await messagesOf(integrationId)).toHaveLength(1);
    expect(await cursorOf(integrationId)).toMatchObject({ lastUid: 2, fetchShortfallMessages: 1 });
    expect(warnings()).toMatchObject([{ msg: "UID SEARCH announced messages the FETCH did not return: the cursor moves past them", missingUids: [1] }]);
  });
});
