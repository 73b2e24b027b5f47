// Stores one downloaded batch of a folder, message by message in UID order, with the rules of
// `sync-mailbox.ts`: a message that cannot be stored is set aside; when the fault is not the
// message's, the folder stops before it.
//
// Cheaper than one message at a time, same outcome:
// - one query checks the whole batch for messages already stored (a resync, a repeated batch);
// - every message is parsed (attachments written to storage) first, then the rows of the whole
//   batch are written in one transaction (`write-batch.ts`), in UID order, so a message threads
//   onto a conversation one before it in the batch created. When the database refuses one message's
//   rows, the batch is rolled back and written again one message per transaction, so that only
//   that message is set aside.
// - A batch where a message repeats the dedupe key of an earlier one (the same mail twice) is stored
//   message by message: the copy is prepared only once the first is written (it is then a
//   duplicate, and must not overwrite that one's attachment files first), and each message is
//   parsed while the rows of the one before are being written.
// - `prepareBatch` and `writePrepared` are apart so that the folder import prepares the next batch
//   while this one's rows are written, and writes the rows of several small batches in one
//   transaction (`sync-mailbox.ts`).
// - When the context can download a message again, a prepared message's source is given back at
//   once (its attachments are in storage, its rows need only the parse): a message whose rows are
//   then refused is downloaded again to be set aside with its bytes.

import type { Db } from "../db/client.js";
import type { MessageDirection } from "../db/schema.js";
import { dbFailureOf, describeDbError } from "../db/transient-error.js";
import { JobError, shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import type { AttachmentStorage } from "../storage/attachment-storage.js";
import { releaseIfAlone } from "../release-memory.js";
import { isBackfillMessage } from "./backfill-rule.js";
import { type CursorPosition, type DownloadedBatch, type FetchedMessage, messageKeyText, storedKeyOf } from "./mail-source.js";
import { type QuarantinedMessage, quarantineMessage } from "./quarantine.js";
import { headerValue, readHead } from "./raw-headers.js";
import type { IncomingMessage, PreparedMessage, StoreOutcome } from "./incoming-message.js";
import { dedupeKeyOf, prepareMessage, type StoreDeps, writeMessage } from "./store-message.js";
import { isStored, storedAmong } from "./stored-check.js";
import { BatchRefused, writeBatch } from "./write-batch.js";

export interface BatchImportContext {
  db: Db;
  /** `connectedAt`: mail of the recent window dated before it is backfill (`backfill-rule.ts`). */
  integration: { id: number; companyId: number; emailAddress: string | null; connectedAt: Date };
  storage: AttachmentStorage;
  now: () => Date;
  maxAttachmentBytes: number;
  log: Logger;
  /**
   * Downloads a message again (null when the server no longer has it). Given, the sources of
   * prepared messages are given back before their rows are written (see the module comment).
   */
  downloadAgain?: (message: FetchedMessage) => Promise<Buffer | null>;
}

export interface BatchTally {
  imported: number;
  duplicates: number;
  setAside: number;
}

interface Where {
  folder: string;
  direction: MessageDirection;
  /** The folder's epoch (IMAP: UIDVALIDITY), stored with UIDs; unused for messages keyed by an id. */
  uidValidity: number;
}

type Written = { outcome: StoreOutcome } | { error: unknown };

/** Imports `batch`, counting into `tally` as it goes. Throws (a JobError) to stop the folder before a message. */
export async function importBatch(ctx: BatchImportContext, where: Where, batch: DownloadedBatch, tally: BatchTally): Promise<void> {
  const prepared = await prepareBatch(ctx, where, keyBatch(batch), tally);
  await writePrepared(ctx, where, [prepared], tally, async () => {});
}

/** A downloaded batch with each message's dedupe key (none when its bytes are not an e-mail). */
export interface KeyedBatch {
  batch: DownloadedBatch;
  items: Keyed[];
  /** The dedupe keys of its messages. */
  keys: Set<string>;
}

/** Reads the dedupe key of each message of `batch` (no I/O). */
export function keyBatch(batch: DownloadedBatch): KeyedBatch {
  const items = batch.messages.map((message) => keyed(message));
  return { batch, items, keys: new Set(items.flatMap((i) => (i.dedupeKey === null ? [] : [i.dedupeKey]))) };
}

/** A batch parsed, its attachments stored, for `writePrepared` to write its rows and count its outcome. */
export type PreparedBatch =
  | {
      kind: "steps";
      batch: DownloadedBatch;
      steps: Step[];
      /** Preparing stopped at a failure that stops the folder: nothing after it may be written. */
      isStopped: boolean;
      /** Bytes of downloaded sources it still holds (those not given back). */
      heldBytes: number;
    }
  /** A dedupe key repeats inside it: prepared and written message by message, alone. */
  | { kind: "oneByOne"; batch: DownloadedBatch; write(): Promise<void> };

/**
 * Everything of a batch's import before its rows: the check for messages already stored, the
 * parse, the attachments. The folder import (`sync-mailbox.ts`) prepares a batch while the rows of
 * the ones before are written; it must wait for those rows first when the batches share a dedupe
 * key (the same mail twice: the second is then a duplicate, and must not overwrite the first one's
 * attachment files). A batch sharing a dedupe key within itself is prepared and written message by
 * message by `writePrepared`.
 */
export async function prepareBatch(ctx: BatchImportContext, where: Where, keyedBatch: KeyedBatch, tally: BatchTally): Promise<PreparedBatch> {
  const { batch, items } = keyedBatch;
  const candidates = items.flatMap((i) => (i.dedupeKey === null ? [] : [{ key: i.message, dedupeKey: i.dedupeKey }]));
  const alreadyStored = await storedAmong(ctx.db, { integration: ctx.integration, ...where }, candidates, ctx.log);
  if (keyedBatch.keys.size !== candidates.length) {
    return { kind: "oneByOne", batch, write: () => importOneByOne(ctx, where, batch, items, alreadyStored, tally) };
  }
  const steps = await prepareAll(ctx, where, batch, items, alreadyStored);
  const last = steps[steps.length - 1];
  return {
    kind: "steps", batch, steps,
    isStopped: last?.kind === "failed" && stopsFolder(last.error),
    heldBytes: steps.reduce((sum, s) => sum + (s.kind === "duplicate" ? 0 : (s.message.source?.length ?? 0)), 0),
  };
}

/**
 * Writes the rows of `group` (consecutive prepared batches, distinct dedupe keys; a message-by-
 * message batch alone) in one transaction, counts each message's outcome in UID order, then moves
 * the cursor past the last batch counted whole, also when a message then stops the folder.
 */
export async function writePrepared(
  ctx: BatchImportContext,
  where: Where,
  group: PreparedBatch[],
  tally: BatchTally,
  moveCursor: (position: CursorPosition) => Promise<void>,
): Promise<void> {
  const last = group[group.length - 1];
  if (!last) return;
  if (last.kind === "oneByOne") {
    if (group.length > 1) throw new Error("a batch written message by message is written alone");
    await last.write();
    await moveCursor(last.batch.position);
    return;
  }
  const batches = group.flatMap((b) => (b.kind === "steps" ? [b] : []));
  const written = await writeRows(ctx, batches.flatMap((b) => b.steps));
  let countedUntil: CursorPosition | null = null;
  try {
    for (const { batch, steps } of batches) {
      for (const step of steps) await countStep(ctx, where, step, written, tally);
      countedUntil = batch.position;
    }
  } catch (err) {
    // The batches before this message are written and counted: the next run starts after them.
    if (countedUntil !== null) await moveCursor(countedUntil).catch(() => {});
    throw err;
  }
  await moveCursor(last.batch.position);
}

type Step =
  | { kind: "duplicate" }
  | { kind: "failed"; message: FetchedMessage; error: unknown }
  /** `isSourceGivenBack`: its source was given back once prepared (`message.source` is then null). */
  | { kind: "prepared"; message: FetchedMessage; prepared: PreparedMessage; isSourceGivenBack: boolean };

/**
 * Every message of the batch parsed (attachments stored), for `writePrepared` to write. Preparing stops
 * at a failure that stops the folder: the messages before it are still written.
 */
async function prepareAll(ctx: BatchImportContext, where: Where, batch: DownloadedBatch, items: Keyed[], alreadyStored: Set<string>): Promise<Step[]> {
  const deps = depsOf(ctx);
  const steps: Step[] = [];
  for (const item of items) {
    const { message, dedupeKey, keyError } = item;
    const incoming = incomingOf(ctx, where, item, batch.isBackfill);
    if (!incoming || dedupeKey === null) {
      steps.push({ kind: "failed", message, error: keyError ?? new JobError("bad-input", "the server returned no content for this message") });
      continue;
    }
    if (alreadyStored.has(messageKeyText(message))) {
      steps.push({ kind: "duplicate" });
      continue;
    }
    try {
      const prepared = await prepareMessage(incoming, dedupeKey, deps);
      // Its rows need only the parse: the bytes are downloaded again should they be refused.
      const isSourceGivenBack = ctx.downloadAgain !== undefined && releaseIfAlone(message.source!);
      steps.push({ kind: "prepared", message: isSourceGivenBack ? { ...message, source: null } : message, prepared, isSourceGivenBack });
    } catch (err) {
      steps.push({ kind: "failed", message, error: err });
      if (stopsFolder(err)) break;
    }
  }
  return steps;
}

/**
 * The rows of every prepared step in one transaction (`write-batch.ts`): each one's outcome, or null
 * when a message's rows were refused (`countStep` then writes them one message per transaction).
 */
async function writeRows(ctx: BatchImportContext, steps: Step[]): Promise<Map<PreparedMessage, StoreOutcome> | null> {
  const prepared = steps.flatMap((s) => (s.kind === "prepared" ? [s.prepared] : []));
  try {
    const outcomes = await writeBatch(ctx.db, prepared, depsOf(ctx));
    return new Map(prepared.map((p, i) => [p, outcomes[i]!]));
  } catch (err) {
    if (!(err instanceof BatchRefused)) throw err;
    // The database's own words only: a failed query's message quotes its parameters (message content).
    ctx.log.debug("batch written one message at a time", { messages: prepared.length, reason: describeDbError(err.cause) });
    return null;
  }
}

/** Counts a step's outcome; `written` null: writes its rows first, alone. */
async function countStep(ctx: BatchImportContext, where: Where, step: Step, written: Map<PreparedMessage, StoreOutcome> | null, tally: BatchTally): Promise<void> {
  if (step.kind === "duplicate") tally.duplicates++;
  else if (step.kind === "failed") await failed(ctx, where, step.message, step.error, tally);
  else {
    const result: Written = written
      ? { outcome: written.get(step.prepared)! }
      : await writeAlone(ctx, step.prepared, depsOf(ctx));
    if ("outcome" in result) countOutcome(tally, result.outcome);
    else if (stopsFolder(result.error)) throw result.error;
    else await failed(ctx, where, step.isSourceGivenBack ? await downloadedAgain(ctx, step.message) : step.message, result.error, tally);
  }
}

/** One message's rows in a transaction of their own: its outcome, or why they were refused (never throws). */
function writeAlone(ctx: BatchImportContext, prepared: PreparedMessage, deps: StoreDeps): Promise<Written> {
  return writeMessage(ctx.db, prepared, deps).then(
    (outcome): Written => ({ outcome }),
    (error: unknown): Written => ({ error }),
  );
}

function countOutcome(tally: BatchTally, outcome: StoreOutcome): void {
  tally[outcome.status === "stored" ? "imported" : "duplicates"]++;
}

/** `message` with its source downloaded again, to be set aside; the folder stops before it when that fails. */
async function downloadedAgain(ctx: BatchImportContext, message: FetchedMessage): Promise<FetchedMessage> {
  try {
    return { ...message, source: await ctx.downloadAgain!(message) };
  } catch (err) {
    throw new JobError("transient", `message could not be downloaded again to be set aside: ${shortReason(err)}`, { cause: err });
  }
}

function depsOf(ctx: BatchImportContext): StoreDeps {
  return { now: ctx.now(), storage: ctx.storage, maxAttachmentBytes: ctx.maxAttachmentBytes, log: ctx.log };
}

/**
 * A batch where one message repeats another's dedupe key: message by message. The copy is prepared
 * only once the first is written (it is then a duplicate, and must not overwrite that one's
 * attachment files first); the parse of a message overlaps the writing of the one before.
 */
async function importOneByOne(ctx: BatchImportContext, where: Where, batch: DownloadedBatch, items: Keyed[], alreadyStored: Set<string>, tally: BatchTally): Promise<void> {
  const seenKeys = new Set<string>();
  // The rows of the message before, being written while this one is parsed.
  let writing: { message: FetchedMessage; written: Promise<Written> } | null = null;
  const settleWriting = async () => {
    if (!writing) return;
    const { message, written } = writing;
    writing = null;
    const result = await written;
    if ("outcome" in result) countOutcome(tally, result.outcome);
    else await failed(ctx, where, message, result.error, tally);
  };

  try {
    for (const item of items) {
      const { message, dedupeKey, keyError } = item;
      const incoming = incomingOf(ctx, where, item, batch.isBackfill);
      if (!incoming || dedupeKey === null) {
        await settleWriting();
        await failed(ctx, where, message, keyError ?? new JobError("bad-input", "the server returned no content for this message"), tally);
        continue;
      }
      let isDuplicate = alreadyStored.has(messageKeyText(message));
      if (!isDuplicate && seenKeys.has(dedupeKey)) {
        await settleWriting();
        isDuplicate = await isStored(ctx.db, { integration: ctx.integration, ...where }, { key: message, dedupeKey }, ctx.log);
      }
      seenKeys.add(dedupeKey);
      const deps = depsOf(ctx);
      let prepared: PreparedMessage | null = null;
      let prepareError: unknown = null;
      if (!isDuplicate) prepared = await prepareMessage(incoming, dedupeKey, deps).catch((err: unknown) => ((prepareError = err), null));
      await settleWriting();
      if (isDuplicate) tally.duplicates++;
      else if (!prepared) await failed(ctx, where, message, prepareError, tally);
      else {
        const written = writeAlone(ctx, prepared, deps);
        writing = { message, written };
      }
    }
    await settleWriting();
  } finally {
    // Thrown out of the loop with rows still being written: let them end before the folder stops.
    if (writing) await (writing as { written: Promise<Written> }).written;
  }
}

export interface Keyed {
  message: FetchedMessage;
  dedupeKey: string | null;
  /** The raw Date header, for the backfill rule. */
  dateHeader: string | null;
  keyError: unknown;
}

function keyed(message: FetchedMessage): Keyed {
  if (!message.source) return { message, dedupeKey: null, dateHeader: null, keyError: null };
  try {
    const head = readHead(message.source);
    return { message, dedupeKey: dedupeKeyOf({ source: message.source }, head), dateHeader: headerValue(head, "date"), keyError: null };
  } catch (err) {
    return { message, dedupeKey: null, dateHeader: null, keyError: err };
  }
}

/** `item` as the message to store; `isInWindow`: its batch came from the recent window. */
function incomingOf(ctx: BatchImportContext, where: Where, item: Keyed, isInWindow: boolean): IncomingMessage | null {
  const { message } = item;
  if (!message.source) return null;
  const isBackfill = isBackfillMessage({ isInWindow, internalDate: message.internalDate, dateHeader: item.dateHeader }, ctx.integration.connectedAt);
  return {
    integration: ctx.integration, folder: where.folder, direction: where.direction, ...storedKeyOf(message, where.uidValidity),
    source: message.source, sizeBytes: message.sizeBytes, internalDate: message.internalDate,
    isOversize: message.isOversize, isBackfill,
    ...(message.sourceThreadId === undefined ? {} : { sourceThreadId: message.sourceThreadId }),
  };
}

/**
 * A message that could not be stored. Storage or the database down now may work on the next run:
 * stop here, the cursor stays before this message (`storeMessage` reports both as a JobError that
 * is not about the message). Anything else about this message will not get better by retrying:
 * set it aside.
 */
async function failed(ctx: BatchImportContext, where: Where, message: FetchedMessage, err: unknown, tally: BatchTally): Promise<void> {
  if (stopsFolder(err)) throw err;
  const quarantined: QuarantinedMessage = {
    integrationId: ctx.integration.id, folder: where.folder, direction: where.direction, ...storedKeyOf(message, where.uidValidity),
    source: message.source, sizeBytes: message.sizeBytes,
  };
  await setAside(ctx, quarantined, shortReason(err));
  tally.setAside++;
}

function stopsFolder(err: unknown): boolean {
  return err instanceof JobError && (err.kind === "transient" || err.kind === "permanent");
}

/** Sets a message aside; if even that fails, the folder stops before it so that nothing is lost. */
async function setAside(ctx: BatchImportContext, message: QuarantinedMessage, reason: string): Promise<void> {
  try {
    await quarantineMessage(ctx.db, message, reason, { storage: ctx.storage, now: ctx.now(), log: ctx.log });
  } catch (err) {
    throw dbFailureOf(err, "setting a message aside") ?? new JobError("transient", `message could not be set aside: ${shortReason(err)}`, { cause: err });
  }
}
