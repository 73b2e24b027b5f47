// The operator's open sessions, kept in the database beside their signed cookies: a cookie is only
// good while its session's row exists, so signing out (which deletes the row) ends that session in
// every browser its cookie was copied to, and serverless instances all see it at once.

import { createHash } from "node:crypto";
import { and, eq, gt, lt } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { operatorSessions } from "../../db/schema.js";
import type { OperatorSession } from "./session.js";

/** Records a new session; sessions already expired are forgotten on the way. */
export async function recordSessionStart(db: Db, session: OperatorSession, now: Date): Promise<void> {
  await db.delete(operatorSessions).where(lt(operatorSessions.expiresAt, now));
  await db.insert(operatorSessions).values({ idHash: hashOf(session.id), startedAt: now, expiresAt: session.expiresAt });
}

/** True while the session has not been signed out of (nor expired). */
export async function isSessionOpen(db: Db, sessionId: string, now: Date): Promise<boolean> {
  const rows = await db
    .select({ idHash: operatorSessions.idHash })
    .from(operatorSessions)
    .where(and(eq(operatorSessions.idHash, hashOf(sessionId)), gt(operatorSessions.expiresAt, now)));
  return rows.length > 0;
}

/** Ends the session everywhere: no copy of its cookie is accepted afterwards. */
export async function recordSessionEnd(db: Db, sessionId: string): Promise<void> {
  await db.delete(operatorSessions).where(eq(operatorSessions.idHash, hashOf(sessionId)));
}

function hashOf(sessionId: string): string {
  return createHash("sha256").update(sessionId).digest("base64url");
}
