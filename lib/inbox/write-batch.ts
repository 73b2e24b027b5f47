// Writes the rows of a downloaded batch's prepared messages in ONE transaction, in a fixed number
// of statements whatever the number of messages (`message-rows.ts`), with the outcome of writing
// them one at a time in UID order: a message threads onto a conversation one before it in the
// batch created or used. Per message that saves the transaction and every round trip: most of
// the database time of a first import.
//
// All or nothing: when one message's rows are refused (a value the database rejects, a copy another
// run stored meanwhile), the whole batch is rolled back and `BatchRefused` says so; the caller then
// writes the batch one message per transaction, so that only that message is set aside.

import type { Db } from "../db/client.js";
import { retryTransient } from "../db/retry-transient.js";
import { dbFailureOf } from "../db/transient-error.js";
import type { PreparedMessage } from "./incoming-message.js";
import { insertBatchRows, logStored, type Stored } from "./message-rows.js";
import type { StoreDeps } from "./store-message.js";

/** One message of the batch could not be written; nothing of the batch was. */
export class BatchRefused extends Error {}

/**
 * Writes `batch` (messages of one company, distinct dedupe keys) in one transaction and returns each
 * message's outcome, in order. Throws a JobError (transient, permanent) when the database stays busy
 * or is broken, `BatchRefused` when a message's rows are refused.
 */
export async function writeBatch(db: Db, batch: PreparedMessage[], deps: StoreDeps): Promise<Stored[]> {
  if (batch.length === 0) return [];
  const storeRows = () => db.transaction((tx) => insertBatchRows(tx, batch, deps));

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
