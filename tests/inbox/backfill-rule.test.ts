// Which messages of a folder's recent window are backfill: those dated before the mailbox was
// connected, by the earlier of INTERNALDATE and the Date header (`backfill-rule.ts`).

import { describe, expect, it } from "vitest";
import { isBackfillMessage } from "../../lib/inbox/backfill-rule.js";

const CONNECTED_AT = new Date("2026-03-09T09:00:00.400Z");
const HOUR_MS = 3_600_000;
const at = (offsetMs: number) => new Date(CONNECTED_AT.getTime() + offsetMs);
const header = (date: Date) => date.toUTCString().replace("GMT", "+0000");

describe("the backfill rule", () => {
  it("keeps every message after the cursor live, whatever its dates", () => {
    expect(isBackfillMessage({ isInWindow: false, internalDate: at(-1000 * HOUR_MS), dateHeader: header(at(-1000 * HOUR_MS)) }, CONNECTED_AT)).toBe(false);
  });

  it("makes a window message dated after the connection live, and one dated before it backfill", () => {
    expect(isBackfillMessage({ isInWindow: true, internalDate: at(HOUR_MS), dateHeader: header(at(HOUR_MS)) }, CONNECTED_AT)).toBe(false);
    expect(isBackfillMessage({ isInWindow: true, internalDate: at(-HOUR_MS), dateHeader: header(at(-HOUR_MS)) }, CONNECTED_AT)).toBe(true);
  });

  it("keeps a message of the very second of the connection as backfill: IMAP dates are whole seconds, it may be from before", () => {
    const sameSecond = new Date("2026-03-09T09:00:00Z");
    expect(isBackfillMessage({ isInWindow: true, internalDate: sameSecond, dateHeader: header(sameSecond) }, CONNECTED_AT)).toBe(true);
  });

  it("keeps old mail copied into a folder after the connection as backfill: its Date header is older than its INTERNALDATE", () => {
    expect(isBackfillMessage({ isInWindow: true, internalDate: at(HOUR_MS), dateHeader: header(at(-48 * HOUR_MS)) }, CONNECTED_AT)).toBe(true);
  });

  it("keeps a message with a bogus future Date header as backfill when the server received it before the connection", () => {
    expect(isBackfillMessage({ isInWindow: true, internalDate: at(-HOUR_MS), dateHeader: "Fri, 01 Jan 2099 00:00:00 +0000" }, CONNECTED_AT)).toBe(true);
  });

  it("goes by the one date it has, and keeps a message with none (or an unreadable one) as backfill", () => {
    expect(isBackfillMessage({ isInWindow: true, internalDate: null, dateHeader: header(at(HOUR_MS)) }, CONNECTED_AT)).toBe(false);
    expect(isBackfillMessage({ isInWindow: true, internalDate: at(HOUR_MS), dateHeader: "not a date" }, CONNECTED_AT)).toBe(false);
    expect(isBackfillMessage({ isInWindow: true, internalDate: null, dateHeader: null }, CONNECTED_AT)).toBe(true);
  });
});
