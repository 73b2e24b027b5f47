import { eq, inArray } from "drizzle-orm";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { companies, inboxFolderCursors, inboxIntegrations } from "../../lib/db/schema.js";
import { advanceCursor, readCursor, startCursor } from "../../lib/inbox/imap/cursor.js";
import { recordSyncFailure, recordSyncSuccess } from "../../lib/inbox/record-sync-result.js";
import { claimDueIntegrations, countDueIntegrations, countNotDueIntegrations, releaseIntegration } from "../../lib/inbox/claim-integrations.js";
import { DRIVERS, useDatabase } from "../support/databases.js";

const MINUTE_MS = 60_000;
const NOW = new Date("2026-03-02T10:00:00Z");
const at = (minutes: number) => new Date(NOW.getTime() + minutes * MINUTE_MS);

describe.each(DRIVERS)("claiming due integrations (%s)", (driver) => {
  const database = useDatabase(driver);
  let companyId: number;
  beforeAll(async () => {
    companyId = (await database.db.insert(companies).values({ name: "Claims" }).returning())[0]!.id;
  });
  beforeEach(async () => {
    await database.db.delete(inboxIntegrations);
  });

  const insert = async (values: Partial<typeof inboxIntegrations.$inferInsert> = {}) =>
    (await database.db.insert(inboxIntegrations).values({ companyId, imapServer: "imap.example.test", ...values }).returning())[0]!.id;

  it("claims active IMAP integrations that are due, never-synced first, and counts the others as not due", async () => {
    const due = await insert({ nextSyncAt: at(-10) });
    const neverSynced = await insert({ nextSyncAt: null });
    await insert({ nextSyncAt: at(10) });
    await insert({ nextSyncAt: null, isActive: false });
    await insert({ nextSyncAt: null, integrationType: "sendgrid" });
    await insert({ nextSyncAt: null, leaseOwner: "other-run", leaseUntil: at(5) });

    expect(await countNotDueIntegrations(database.db, NOW)).toBe(2);
    const claimed = await claimDueIntegrations(database.db, { owner: "run-a", leaseMs: 30_000, limit: 10, now: NOW });
    expect(claimed.map((i) => i.id)).toEqual([neverSynced, due]);
    expect(claimed.every((i) => i.leaseOwner === "run-a" && i.leaseUntil?.getTime() === NOW.getTime() + 30_000)).toBe(true);
    expect(await countDueIntegrations(database.db, NOW)).toBe(0);
  });

  it("gives concurrent claimers disjoint sets", async () => {
    const ids = await Promise.all(Array.from({ length: 24 }, (_, i) => insert({ nextSyncAt: at(-i) })));
    const claims = await Promise.all(
      Array.from({ length: 6 }, (_, i) => claimDueIntegrations(database.db, { owner: `run-${i}`, leaseMs: 30_000, limit: 5, now: NOW })),
    );
    const claimedIds = claims.flat().map((i) => i.id);
    expect(new Set(claimedIds).size).toBe(claimedIds.length);
    expect(claimedIds.length).toBe(24);
    expect(new Set(claimedIds)).toEqual(new Set(ids));
    const rows = await database.db.select().from(inboxIntegrations).where(inArray(inboxIntegrations.id, ids));
    for (const [i, claim] of claims.entries()) {
      for (const integration of claim) expect(rows.find((r) => r.id === integration.id)?.leaseOwner).toBe(`run-${i}`);
    }
  });

  it("reclaims an integration whose lease expired, and not before", async () => {
    const id = await insert({ nextSyncAt: null });
    await claimDueIntegrations(database.db, { owner: "crashed-run", leaseMs: 60_000, limit: 1, now: NOW });
    expect(await claimDueIntegrations(database.db, { owner: "run-b", leaseMs: 60_000, limit: 1, now: at(0.5) })).toEqual([]);
    const reclaimed = await claimDueIntegrations(database.db, { owner: "run-b", leaseMs: 60_000, limit: 1, now: at(2) });
    expect(reclaimed.map((i) => i.id)).toEqual([id]);
    expect(reclaimed[0]!.leaseOwner).toBe("run-b");
  });

  it("claims a named integration even when it is not due, but never while another run holds it", async () => {
    const id = await insert({ nextSyncAt: at(60) });
    expect(await claimDueIntegrations(database.db, { owner: "run-a", leaseMs: 30_000, limit: 1, now: NOW })).toEqual([]);
    const forced = await claimDueIntegrations(database.db, { owner: "run-a", leaseMs: 30_000, limit: 1, now: NOW, integrationId: id });
    expect(forced.map((i) => i.id)).toEqual([id]);
    expect(await claimDueIntegrations(database.db, { owner: "run-b", leaseMs: 30_000, limit: 1, now: NOW, integrationId: id })).toEqual([]);
    await releaseIntegration(database.db, id, "run-a");
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id));
    expect(row).toMatchObject({ leaseOwner: null, leaseUntil: null, nextSyncAt: at(60) });
  });

  it("ignores the cursor moves and the result of a run whose lease another run took over", async () => {
    const id = await insert({ nextSyncAt: null });
    const key = { integrationId: id, folder: "INBOX" };
    await claimDueIntegrations(database.db, { owner: "slow-run", leaseMs: 1_000, limit: 1, now: NOW });
    expect(await startCursor(database.db, { ...key, owner: "slow-run" }, { uidValidity: 7, lastUid: 0, backfillUntilUid: 0, isUidValidityChange: false }, NOW)).toBe(true);
    expect(await advanceCursor(database.db, { ...key, owner: "slow-run" }, { uidValidity: 7, lastUid: 10 }, NOW)).toBe(true);

    await claimDueIntegrations(database.db, { owner: "new-run", leaseMs: 60_000, limit: 1, now: at(1) });
    expect(await advanceCursor(database.db, { ...key, owner: "new-run" }, { uidValidity: 7, lastUid: 12 }, at(1))).toBe(true);
    expect(await advanceCursor(database.db, { ...key, owner: "slow-run" }, { uidValidity: 7, lastUid: 40 }, at(1))).toBe(false);
    await recordSyncSuccess(database.db, { id, syncIntervalMinutes: 5 }, "slow-run", { hasMore: false }, at(1));

    expect((await readCursor(database.db, key))?.lastUid).toBe(12);
    const [row] = await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id));
    expect(row).toMatchObject({ leaseOwner: "new-run", lastSyncAt: null });
  });

  it("moves a cursor only forward", async () => {
    const id = await insert({ nextSyncAt: null });
    await claimDueIntegrations(database.db, { owner: "run-a", leaseMs: 60_000, limit: 1, now: NOW });
    const key = { integrationId: id, folder: "INBOX", owner: "run-a" };
    await startCursor(database.db, key, { uidValidity: 3, lastUid: 20, backfillUntilUid: 20, isUidValidityChange: false }, NOW);
    await advanceCursor(database.db, key, { uidValidity: 3, lastUid: 15 }, NOW);
    expect((await readCursor(database.db, key))?.lastUid).toBe(20);
    await advanceCursor(database.db, key, { uidValidity: 3, lastUid: 25 }, NOW);
    expect((await readCursor(database.db, key))?.lastUid).toBe(25);
    await database.db.delete(inboxFolderCursors).where(eq(inboxFolderCursors.integrationId, id));
  });

  it("schedules the next sync after the interval on success, and backs off on failures (longer for a refused login)", async () => {
    const id = await insert({ nextSyncAt: null, syncIntervalMinutes: 5 });
    const row = async () => (await database.db.select().from(inboxIntegrations).where(eq(inboxIntegrations.id, id)))[0]!;
    const fail = async (kind: "transient" | "auth", now: Date) => {
      await claimDueIntegrations(database.db, { owner: "r", leaseMs: 60_000, limit: 1, now, integrationId: id });
      await recordSyncFailure(database.db, await row(), "r", { kind, reason: `${kind} failure` }, now);
      return row();
    };

    let state = await fail("transient", NOW);
    expect(state).toMatchObject({ lastSyncStatus: "error", lastSyncError: "transient failure", consecutiveFailures: 1, authFailures: 0, failingSince: NOW, leaseOwner: null });
    expect(state.nextSyncAt).toEqual(at(5));
    state = await fail("transient", at(5));
    expect(state.nextSyncAt).toEqual(at(15));
    expect(state.failingSince).toEqual(NOW);
    state = await fail("auth", at(15));
    expect(state).toMatchObject({ consecutiveFailures: 3, authFailures: 1 });
    expect(state.nextSyncAt).toEqual(at(45));
    state = await fail("auth", at(45));
    expect(state.nextSyncAt).toEqual(at(105));

    await claimDueIntegrations(database.db, { owner: "r", leaseMs: 60_000, limit: 1, now: at(105), integrationId: id });
    await recordSyncSuccess(database.db, { id, syncIntervalMinutes: 5 }, "r", { hasMore: false }, at(105));
    expect(await row()).toMatchObject({
      lastSyncStatus: "success", lastSyncError: null, consecutiveFailures: 0, authFailures: 0, failingSince: null,
      lastSuccessAt: at(105), nextSyncAt: at(110), leaseOwner: null, leaseUntil: null,
    });
    await claimDueIntegrations(database.db, { owner: "r", leaseMs: 60_000, limit: 1, now: at(110), integrationId: id });
    await recordSyncSuccess(database.db, { id, syncIntervalMinutes: 5 }, "r", { hasMore: true }, at(110));
    expect((await row()).nextSyncAt).toEqual(at(110));
  });
});
