// Slows down guessing of the cron secret through the sign-in form. Each wrong secret is counted
// for the client (a hash of its address) and for everyone together; past a few, sign-in is refused
// for a while that doubles with each further failure. The count lives in the database because
// serverless instances share nothing else. The client's address is the one its platform vouches
// for (lib/http/client-address.ts), never a header the client could write; the global count is
// what stops a guesser who changes address. The CLI still works meanwhile.

import { createHash } from "node:crypto";
import { eq, inArray, sql } from "drizzle-orm";
import type { Config } from "../../config.js";
import type { Db } from "../../db/client.js";
import { clientAddressOf } from "../../http/client-address.js";
import { operatorSignInFailures } from "../../db/schema.js";

/** Wrong secrets a client may type before it has to wait. */
export const FREE_FAILURES_PER_CLIENT = 5;
/** Wrong secrets from all clients together before everyone has to wait. */
export const FREE_FAILURES_FOR_ALL = 50;
/** Failures older than this are forgotten. */
const FAILURE_MEMORY_MS = 60 * 60 * 1000;
/** The first wait, doubled with each further failure, up to the longest. */
const FIRST_WAIT_MS = 60 * 1000;
const LONGEST_WAIT_MS = 60 * 60 * 1000;
const EVERYONE = "*";

/** Until when sign-in is refused for this client (or everyone), if it is. */
export async function signInBlockedUntil(db: Db, clientKey: string, now: Date): Promise<Date | undefined> {
  const rows = await db
    .select({ blockedUntil: operatorSignInFailures.blockedUntil })
    .from(operatorSignInFailures)
    .where(inArray(operatorSignInFailures.clientKey, [clientKey, EVERYONE]));
  const until = rows.map((r) => r.blockedUntil?.getTime() ?? 0).filter((ms) => ms > now.getTime());
  return until.length ? new Date(Math.max(...until)) : undefined;
}

/** Counts a wrong secret; returns until when sign-in is now refused, if it is. */
export async function recordSignInFailure(db: Db, clientKey: string, now: Date): Promise<Date | undefined> {
  const forClient = await countFailure(db, clientKey, FREE_FAILURES_PER_CLIENT, now);
  const forAll = await countFailure(db, EVERYONE, FREE_FAILURES_FOR_ALL, now);
  const until = [forClient, forAll].filter((d): d is Date => d !== undefined).map((d) => d.getTime());
  return until.length ? new Date(Math.max(...until)) : undefined;
}

/** A right secret forgets the client's failures (not everyone's). */
export async function clearSignInFailures(db: Db, clientKey: string): Promise<void> {
  await db.delete(operatorSignInFailures).where(eq(operatorSignInFailures.clientKey, clientKey));
}

/**
 * Who is signing in, as a hash (an address is personal data, and the table needs only equality).
 * Requests whose address cannot be told all count as one client.
 */
export function clientKeyOf(req: Request, config: Pick<Config, "platform" | "trustProxyHops">): string {
  const address = clientAddressOf(req, config) ?? "unknown";
  return createHash("sha256").update(address).digest("base64url").slice(0, 22);
}

async function countFailure(db: Db, clientKey: string, freeFailures: number, now: Date): Promise<Date | undefined> {
  const t = operatorSignInFailures;
  const forgetBefore = new Date(now.getTime() - FAILURE_MEMORY_MS).toISOString();
  // One statement, so two wrong secrets at once both count.
  const [row] = await db
    .insert(t)
    .values({ clientKey, failures: 1, lastFailureAt: now })
    .onConflictDoUpdate({
      target: t.clientKey,
      set: {
        failures: sql`case when ${t.lastFailureAt} < ${forgetBefore}::timestamptz then 1 else ${t.failures} + 1 end`,
        lastFailureAt: now,
      },
    })
    .returning({ failures: t.failures });
  const failures = row?.failures ?? 1;
  if (failures < freeFailures) return undefined;
  const waitMs = Math.min(FIRST_WAIT_MS * 2 ** Math.min(failures - freeFailures, 20), LONGEST_WAIT_MS);
  const blockedUntil = new Date(now.getTime() + waitMs);
  await db.update(t).set({ blockedUntil }).where(eq(t.clientKey, clientKey));
  return blockedUntil;
}
