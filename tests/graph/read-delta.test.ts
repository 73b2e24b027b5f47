// Delta sync of a folder against the local Graph server, with real tokens from the tests'
// authorization server: paging by nextLink, the deltaLink as the cursor, the first-sync window,
// removed items ignored, resync when a cursor is refused, and cursors that point elsewhere.

import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { GraphError } from "../../lib/graph/graph-error.js";
import type { GraphMailbox } from "../../lib/graph/mailbox-path.js";
import { type DeltaMessage, readDeltaPage } from "../../lib/graph/read-delta-page.js";
import { syncFolder } from "../../lib/graph/sync-folder.js";
import { startGraphServer, type TestGraphServer } from "../support/graph-server.js";
import { issueAccessToken, rawMessage, testGraphClient } from "./graph-harness.js";

describe("Graph delta sync of a folder", () => {
  const authorizationServer = inject("authorizationServer");
  let graph: TestGraphServer;

  beforeAll(async () => {
    graph = await startGraphServer({ authorizationServer });
  });
  afterAll(async () => {
    await graph.close();
  });

  /** A fresh mailbox owned by its own person, with a token of that person. */
  const ownMailbox = async () => {
    const address = `owner-${randomBytes(4).toString("hex")}@contoso.test`;
    graph.addMailbox(address);
    const token = await issueAccessToken(authorizationServer, address);
    const mailbox: GraphMailbox = { address, isShared: false };
    return { address, mailbox, ...testGraphClient(graph.baseUrl, [token]) };
  };
  const deliverMany = async (address: string, count: number, receivedAt = new Date("2026-03-09T09:00:00Z")) => {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(await graph.deliver(address, "inbox", rawMessage({ from: "client@example.com", to: address, subject: `Devis ${i}`, messageId: `<m${i}.${address}>` }), receivedAt));
    }
    return ids;
  };

  it("reads a first round page by page through nextLinks and ends on a deltaLink, asking only for the fields it needs", async () => {
    const { address, mailbox, client } = await ownMailbox();
    const ids = await deliverMany(address, 5);
    const pages: DeltaMessage[][] = [];
    const cursors: string[] = [];

    const result = await syncFolder(client, mailbox, {
      folder: "inbox",
      pageSize: 2,
      onPage: async (messages, cursorAfter) => {
        pages.push(messages);
        cursors.push(cursorAfter);
      },
    });

    expect(result).toMatchObject({ kind: "up-to-date", pages: 3, messages: 5 });
    expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
    expect(pages.flat().map((message) => message.id)).toEqual(ids);
    expect(pages.flat()[0]).toEqual({ id: ids[0], internetMessageId: `<m0.${address}>`, receivedAt: new Date("2026-03-09T09:00:00Z") });
    expect(cursors.slice(0, 2).every((cursor) => cursor.includes("$skiptoken="))).toBe(true);
    expect(result.kind === "up-to-date" && result.cursor).toContain("$deltatoken=");
    const first = graph.requests.find((request) => request.user === address)!;
    expect(first.path).toBe("/me/mailFolders/inbox/messages/delta");
    expect(first.query.get("$select")).toBe("id,internetMessageId,receivedDateTime");
    expect(first.prefer).toBe("odata.maxpagesize=2");
  });

  it("returns only what arrived since the stored deltaLink, skipping removed messages", async () => {
    const { address, mailbox, client } = await ownMailbox();
    const [kept, removed] = await deliverMany(address, 2);
    const first = await readDeltaPage(client, mailbox, { folder: "inbox" });
    expect(first).toMatchObject({ kind: "page", isRoundComplete: true });
    if (first.kind !== "page") return;

    graph.remove(address, removed!);
    const newer = await graph.deliver(address, "inbox", rawMessage({ from: "b@example.com", to: address, subject: "Relance", messageId: "<newer@example.com>" }));
    const next = await readDeltaPage(client, mailbox, { folder: "inbox", cursor: first.cursor });

    expect(next).toMatchObject({ kind: "page", isRoundComplete: true, removedCount: 1 });
    expect(next.kind === "page" && next.messages.map((message) => message.id)).toEqual([newer]);
    expect(kept).toBeDefined();
    const again = await readDeltaPage(client, mailbox, { folder: "inbox", cursor: next.kind === "page" ? next.cursor : "" });
    expect(again).toMatchObject({ kind: "page", messages: [], isRoundComplete: true });
  });

  it("bounds a first sync to the window with $filter=receivedDateTime ge, and keeps the window out of later rounds' requests", async () => {
    const { address, mailbox, client } = await ownMailbox();
    await graph.deliver(address, "inbox", rawMessage({ from: "a@example.com", to: address, subject: "Ancien", messageId: "<old@example.com>" }), new Date("2025-01-05T10:00:00Z"));
    const recent = await graph.deliver(address, "inbox", rawMessage({ from: "a@example.com", to: address, subject: "Récent", messageId: "<recent@example.com>" }), new Date("2026-03-01T10:00:00Z"));

    const page = await readDeltaPage(client, mailbox, { folder: "inbox", receivedSince: new Date("2026-02-01T00:00:00Z") });

    expect(page.kind === "page" && page.messages.map((message) => message.id)).toEqual([recent]);
    const request = graph.requests.filter((candidate) => candidate.user === address).at(-1)!;
    expect(request.query.get("$filter")).toBe("receivedDateTime ge 2026-02-01T00:00:00.000Z");
  });

  it("reads the sent items folder on its own cursor", async () => {
    const { address, mailbox, client } = await ownMailbox();
    await deliverMany(address, 1);
    const sentId = await graph.deliver(address, "sentitems", rawMessage({ from: address, to: "client@example.com", subject: "Re: Devis", messageId: "<sent@contoso.test>" }));

    const page = await readDeltaPage(client, mailbox, { folder: "sentitems" });

    expect(page.kind === "page" && page.messages.map((message) => message.id)).toEqual([sentId]);
  });

  it.each([
    { answer: { status: 410, code: "syncStateNotFound" }, what: "410 Gone" },
    { answer: { status: 400, code: "SyncStateNotFound" }, what: "a 400 with SyncStateNotFound" },
    { answer: { status: 400, code: "resyncRequired" }, what: "a 400 with resyncRequired" },
  ])("reports resync-needed when Graph refuses a stored cursor with $what", async ({ answer }) => {
    const { address, mailbox, client } = await ownMailbox();
    await deliverMany(address, 3);
    const first = await readDeltaPage(client, mailbox, { folder: "inbox" });
    if (first.kind !== "page") throw new Error("expected a page");

    graph.expireDeltaTokens(address, answer);
    const refused = await syncFolder(client, mailbox, { folder: "inbox", cursor: first.cursor, onPage: async () => {} });
    expect(refused).toMatchObject({ kind: "resync-needed", pages: 0 });
    expect(refused.kind === "resync-needed" && refused.reason).toContain(answer.code);

    // Starting over without a cursor lists the folder again (dedupe absorbs the repeats).
    const seen: string[] = [];
    const again = await syncFolder(client, mailbox, { folder: "inbox", onPage: async (messages) => void seen.push(...messages.map((m) => m.id)) });
    expect(again.kind).toBe("up-to-date");
    expect(seen).toHaveLength(3);
  });

  it("pauses at the deadline with the next page's link as the cursor, and resumes from it", async () => {
    const { address, mailbox, client, clock } = await ownMailbox();
    await deliverMany(address, 4);
    const deadline = new Date(clock.ms + 1000);
    let pagesRead = 0;

    const paused = await syncFolder(client, mailbox, {
      folder: "inbox",
      pageSize: 1,
      onPage: async () => {
        pagesRead++;
        clock.ms += 600; // storing a page takes time on the business clock
      },
    }, { deadline });

    expect(paused).toMatchObject({ kind: "paused", pages: 2 });
    const resumed = await syncFolder(client, mailbox, { folder: "inbox", pageSize: 1, cursor: paused.kind === "paused" ? paused.cursor : "", onPage: async () => void pagesRead++ });
    expect(resumed).toMatchObject({ kind: "up-to-date", pages: 2 });
    expect(pagesRead).toBe(4);
  });

  it("reads a shared mailbox at /users/{address} when its owner granted the person access", async () => {
    const { address: person, client } = await ownMailbox();
    const shared = `contact-${randomBytes(4).toString("hex")}@contoso.test`;
    graph.addMailbox(shared);
    const id = await graph.deliver(shared, "inbox", rawMessage({ from: "client@example.com", to: shared, subject: "Demande", messageId: "<shared@example.com>" }));
    graph.grant(shared, person);

    const page = await readDeltaPage(client, { address: shared, isShared: true }, { folder: "inbox" });

    expect(page.kind === "page" && page.messages.map((message) => message.id)).toEqual([id]);
    expect(graph.requests.filter((request) => request.user === person).at(-1)!.path).toBe(`/users/${encodeURIComponent(shared)}/mailFolders/inbox/messages/delta`);
  });

  it("fails with an auth error when the person has no access to the shared mailbox (never granted, or withdrawn)", async () => {
    const { address: person, client } = await ownMailbox();
    const shared = `devis-${randomBytes(4).toString("hex")}@contoso.test`;
    graph.addMailbox(shared);

    const refused = await readDeltaPage(client, { address: shared, isShared: true }, { folder: "inbox" }).catch((err: unknown) => err);

    expect(refused).toBeInstanceOf(GraphError);
    expect(refused).toMatchObject({ kind: "auth", status: 403, codes: ["ErrorAccessDenied"] });
    graph.grant(shared, person);
    expect((await readDeltaPage(client, { address: shared, isShared: true }, { folder: "inbox" })).kind).toBe("page");
    graph.revoke(shared, person);
    await expect(readDeltaPage(client, { address: shared, isShared: true }, { folder: "inbox" })).rejects.toMatchObject({ kind: "auth", status: 403 });
  });

  it("refuses a cursor that points outside Graph and never sends the mailbox's token there", async () => {
    const { mailbox, client } = await ownMailbox();
    const received: Array<string | undefined> = [];
    const elsewhere = createServer((req, res) => {
      received.push(req.headers.authorization);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ value: [], "@odata.deltaLink": "x" }));
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
    const port = (elsewhere.address() as AddressInfo).port;
    const base = new URL(graph.baseUrl);
    try {
      for (const cursor of [
        `http://127.0.0.1:${port}/v1.0/me/mailFolders('inbox')/messages/delta?$deltatoken=abc`,
        `${base.protocol}//attacker@${base.host}/v1.0/me/messages/delta`,
        `${base.origin}/beta/me/mailFolders('inbox')/messages/delta`,
      ]) {
        await expect(readDeltaPage(client, mailbox, { folder: "inbox", cursor })).rejects.toMatchObject({ kind: "bad-input", mayHaveReachedServer: false });
      }
      expect(received).toEqual([]);
    } finally {
      elsewhere.close();
    }
  });

  it("asks for a new token once when Graph refuses a revoked one, naming the refused token", async () => {
    const address = `owner-${randomBytes(4).toString("hex")}@contoso.test`;
    graph.addMailbox(address);
    const { client, tokenRequests } = testGraphClient(graph.baseUrl, ["revoked-or-forged-token", await issueAccessToken(authorizationServer, address)]);

    const page = await readDeltaPage(client, { address, isShared: false }, { folder: "inbox" });

    expect(page.kind).toBe("page");
    expect(tokenRequests).toEqual([undefined, "revoked-or-forged-token"]);
  });

  it("fails with an auth error when the new token is refused too, without asking a third time", async () => {
    const address = `owner-${randomBytes(4).toString("hex")}@contoso.test`;
    graph.addMailbox(address);
    const { client, tokenRequests } = testGraphClient(graph.baseUrl, ["bad-1", "bad-2"]);

    await expect(readDeltaPage(client, { address, isShared: false }, { folder: "inbox" })).rejects.toMatchObject({ kind: "auth", status: 401, codes: ["InvalidAuthenticationToken"] });
    expect(tokenRequests).toEqual([undefined, "bad-1"]);
  });
});
