// Writes the rows of a downloaded batch's prepared messages in ONE transaction: the correspondent
// locks of the whole batch in one statement (`conversation-locks.ts`), then each message's rows in
// UID order (`message-rows.ts`), so a message threads onto a conversation one before it in the
// batch created or used. Per message that saves the transaction's BEGIN/COMMIT and its lock, and
// the client look-up when a correspondent repeats: most of the round trips of a first import.
//
// All or nothing: when one message's rows are refused (a value the database rejects, a copy another
// run stored meanwhile), the whole batch is rolled back and `BatchRefused` says so; the caller then
// writes the batch one message per transaction, so that only that message is set aside.

import type { Db } from "../db/client.js";
import { retryTransient } from "../db/retry-transient.js";
import { dbFailureOf } from "../db/transient-error.js";
import { lockCorrespondents } from "./conversation-locks.js";
import { type ClientLookup, findClientId, insertMessageRows, logStored } from "./message-rows.js";
import type { PreparedMessage, StoreDeps, StoreOutcome } from "./store-message.js";

/** One message of the batch could not be written; nothing of the batch was. */
export class BatchRefused extends Error {}

type Stored = Extract<StoreOutcome, { status: "stored" }>;

/**
 * Writes `batch` (messages of one company, distinct dedupe keys) in one transaction and returns each
 * message's outcome, in order. Throws a JobError (transient, permanent) when the database stays busy
 * or is broken, `BatchRefused` when a message's rows are refused.
 */
export async function writeBatch(db: Db, batch: PreparedMessage[], deps: StoreDeps): Promise<Stored[]> {
  if (batch.length === 0) return [];
  const companyId = batch[0]!.message.integration.companyId;
  const storeRows = () =>
    db.transaction(async (tx) => {
      await lockCorrespondents(tx, companyId, batch.map((p) => p.correspondentAddress));
      // Clients are never created by the import: an answer holds for the whole transaction.
      const clientIds = new Map<string, number | null>();
      const cachedClientId: ClientLookup = async (inner, company, correspondents) => {
        const key = correspondents.map((c) => (c.address ?? "").trim().toLowerCase()).join("\n");
        if (!clientIds.has(key)) clientIds.set(key, await findClientId(inner, company, correspondents));
        return clientIds.get(key)!;
      };
      const outcomes: Stored[] = [];
      for (const prepared of batch) outcomes.push(await insertMessageRows(tx, prepared, deps, cachedClientId));
      return outcomes;
    });

  let outcomes: Stored[];
  try {
    outcomes = await retryTransient(storeRows, { log: deps.log });
  } catch (err) {
    const failure = dbFailureOf(err, "storing a batch of messages");
    if (failure) throw failure;
    throw new BatchRefused("a message of the batch could not be written", { cause: err });
  }
  for (const [i, outcome] of outcomes.entries()) logStored(batch[i]!, outcome, deps);
  return outcomes;
}
