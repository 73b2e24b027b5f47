// First sync over the Gmail API against the local Gmail server: the ids of the window's INBOX and
// SENT messages, every page, each message once, and the history id to continue from.

import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { listHistory } from "../../lib/gmail/list-history.js";
import { MESSAGES_PAGE_SIZE } from "../../lib/gmail/list-messages.js";
import { planFirstSync } from "../../lib/gmail/plan-first-sync.js";
import { startGmailServer, type TestGmailServer } from "../support/gmail-server.js";
import { clientOf, fakeClock, mail, newMailbox } from "./gmail-kit.js";

const DAY_MS = 86_400_000;

describe("first sync over the Gmail API", () => {
  const authorizationServer = inject("authorizationServer");
  let gmail: TestGmailServer;
  beforeAll(async () => {
    gmail = await startGmailServer({ authorizationServer });
  });
  afterAll(async () => {
    await gmail.close();
  });

  it("lists every page of the window's INBOX and SENT messages, each once, and the history id read before them", async () => {
    const clock = fakeClock();
    const { address, token } = await newMailbox(authorizationServer);
    const since = new Date(clock.now().getTime() - 30 * DAY_MS);
    const inWindow = (i: number) => new Date(since.getTime() + DAY_MS + i * 1000);
    const inbox = Array.from({ length: MESSAGES_PAGE_SIZE * 2 + 17 }, (_, i) => gmail.deliver(address, mail({ subject: `Demande ${i}` }), { labelIds: ["INBOX", "UNREAD"], internalDate: inWindow(i) }));
    const sent = [0, 1, 2].map((i) => gmail.deliver(address, mail({ subject: `Réponse ${i}` }), { labelIds: ["SENT"], internalDate: inWindow(i) }));
    const toSelf = gmail.deliver(address, mail({ subject: "Note à moi-même" }), { labelIds: ["SENT", "INBOX"], internalDate: inWindow(5) });
    const tooOld = gmail.deliver(address, mail(), { labelIds: ["INBOX"], internalDate: new Date(since.getTime() - DAY_MS) });
    const spam = gmail.deliver(address, mail(), { labelIds: ["SPAM"], internalDate: inWindow(6) });
    const archived = gmail.deliver(address, mail(), { labelIds: ["CATEGORY_UPDATES"], internalDate: inWindow(7) });
    const historyBefore = gmail.mailbox(address).historyId;

    const plan = await planFirstSync(clientOf(gmail, token, clock), { since });

    expect(plan.historyId).toBe(historyBefore);
    expect(plan.isTruncated).toBe(false);
    const ids = plan.messages.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set([...inbox, ...sent, toSelf].map((m) => m.id)));
    expect(ids).not.toContain(tooOld.id);
    expect(ids).not.toContain(spam.id);
    expect(ids).not.toContain(archived.id);
    expect(plan.messages.find((m) => m.id === toSelf.id)?.direction).toBe("outbound");
    expect(plan.messages.find((m) => m.id === inbox[0]!.id)).toEqual({ id: inbox[0]!.id, threadId: inbox[0]!.threadId, direction: "inbound" });
    expect(plan.messages.filter((m) => m.direction === "outbound")).toHaveLength(4);
    // Three pages of INBOX, one of SENT, each asked with the window and one label.
    const lists = gmail.requests.filter((r) => r.user === address && r.method === "users.messages.list");
    expect(lists).toHaveLength(4);
    expect(lists.filter((r) => r.query.get("pageToken"))).toHaveLength(2);
    for (const list of lists) {
      expect(list.query.getAll("labelIds")).toHaveLength(1);
      expect(list.query.get("q")).toBe(`after:${Math.floor(since.getTime() / 1000)}`);
    }
    expect(gmail.unitsUsed(address)).toBe(1 + 4 * 5);
  });

  it("stops listing after the page that reaches the bound, and says the list is cut", async () => {
    const clock = fakeClock();
    const { address, token } = await newMailbox(authorizationServer);
    for (let i = 0; i < MESSAGES_PAGE_SIZE + 3; i++) gmail.deliver(address, mail(), { labelIds: ["INBOX"], internalDate: new Date(clock.now().getTime() - 1000 * (i + 1)) });

    const plan = await planFirstSync(clientOf(gmail, token, clock), { since: new Date(clock.now().getTime() - DAY_MS), maxMessages: 10 });

    expect(plan.messages).toHaveLength(MESSAGES_PAGE_SIZE);
    expect(plan.isTruncated).toBe(true);
  });

  it("continues from its history id: a message that arrives after the lists is in the next history reading", async () => {
    const clock = fakeClock();
    const { address, token } = await newMailbox(authorizationServer);
    const client = clientOf(gmail, token, clock);
    gmail.deliver(address, mail(), { labelIds: ["INBOX"], internalDate: clock.now() });
    const plan = await planFirstSync(client, { since: new Date(clock.now().getTime() - DAY_MS) });
    const later = gmail.deliver(address, mail({ subject: "Relance" }), { labelIds: ["INBOX"] });

    const changes = await listHistory(client, { startHistoryId: plan.historyId });

    expect(changes).toMatchObject({ kind: "changes", messages: [{ id: later.id, direction: "inbound" }], isComplete: true });
  });
});
