// Tells a database failure that may go away by itself (a deadlock, a serialization failure, a lost
// connection, a server restarting or out of connections) from one caused by what was written. The
// first is retried and, if it persists, stops the work before the item; only the second may be
// blamed on the item (a message set aside).
//
// The three drivers surface the server's SQLSTATE as `code` on their error (pg and Neon: a
// `DatabaseError`; PGlite: the same shape), and drizzle wraps a failed query in `DrizzleQueryError`
// with the driver's error as `cause`. A broken socket shows as a Node `code` (ECONNRESET…) or, in
// node-postgres, as an error with only a message ("Connection terminated unexpectedly").

import { DrizzleQueryError } from "drizzle-orm";
import { JobError } from "../errors.js";

/** SQLSTATE classes that say nothing about the statement: the server or the session is in trouble. */
const TRANSIENT_SQLSTATE_CLASSES = [
  "08", // connection exception
  "40", // transaction rollback: 40001 serialization_failure, 40P01 deadlock_detected
  "53", // insufficient resources: too many connections, out of memory, disk full
  "57", // operator intervention: 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 57014 query_canceled
  "58", // system error (I/O error on the server)
];
/** 55P03 lock_not_available: a lock_timeout fired while another transaction held the row. */
const TRANSIENT_SQLSTATES = ["55P03", "55006"];
/** SQLSTATE classes that do say the statement's data is at fault: 22 data exception, 23 constraint, 54 limits. */
const DATA_SQLSTATE_CLASSES = ["22", "23", "54"];
const TRANSIENT_NODE_CODES = ["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"];
/** What node-postgres and the Neon driver say, without a code, when the connection is gone. */
const CONNECTION_LOST = /connection terminated|not queryable|connection (?:error|closed)|terminating connection|timeout exceeded when trying to connect|websocket/i;

/** True when `err` (or an error in its `cause` chain) is a database failure worth retrying. */
export function isTransientDbError(err: unknown): boolean {
  for (const e of causeChain(err)) {
    const code = codeOf(e);
    if (code && isSqlState(code)) return TRANSIENT_SQLSTATE_CLASSES.includes(code.slice(0, 2)) || TRANSIENT_SQLSTATES.includes(code);
    if (code && TRANSIENT_NODE_CODES.includes(code)) return true;
    // Drizzle's message quotes the query's parameters (message content): never read it for words.
    if (e instanceof Error && !(e instanceof DrizzleQueryError) && CONNECTION_LOST.test(e.message)) return true;
  }
  return false;
}

/**
 * True when the database refused what was written (a value it cannot take, a constraint): the data
 * is at fault, not the database. Any other database error (a missing table, a permission, an
 * internal error) is the system's fault and must not be blamed on the data.
 */
export function isDataDbError(err: unknown): boolean {
  const code = causeChain(err).map(codeOf).find((c) => c !== undefined && isSqlState(c));
  return code !== undefined && DATA_SQLSTATE_CLASSES.includes(code.slice(0, 2));
}

/**
 * The JobError that stops the work before the item when `err` is the database's fault: `transient`
 * when it may pass (retry next run), `permanent` when the system is broken (a missing table, a
 * permission: an operator must act). Null when `err` is not a database error or blames the data.
 */
export function dbFailureOf(err: unknown, doing: string): JobError | null {
  if (isTransientDbError(err)) return new JobError("transient", `database unavailable while ${doing}: ${describeDbError(err)}`, { cause: err });
  if (!isDbError(err) || isDataDbError(err)) return null;
  return new JobError("permanent", `database error while ${doing}: ${describeDbError(err)}`, { cause: err });
}

/** True when `err` came from the database (a SQLSTATE, or a query drizzle reports as failed). */
function isDbError(err: unknown): boolean {
  return causeChain(err).some((e) => {
    const code = codeOf(e);
    return (code !== undefined && isSqlState(code)) || e instanceof DrizzleQueryError;
  });
}

/**
 * The database's own words, short and without the query or its parameters (drizzle's message
 * repeats both, and the parameters hold message content): "deadlock detected (40P01)".
 */
export function describeDbError(err: unknown): string {
  const chain = causeChain(err);
  const root = chain.find((e) => codeOf(e) !== undefined) ?? chain[chain.length - 1];
  const code = codeOf(root);
  const text = root instanceof Error ? root.message : String(root);
  const line = text.replace(/\s+/g, " ").trim().slice(0, 200) || "database error";
  return code ? `${line} (${code})` : line;
}

function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

function codeOf(e: unknown): string | undefined {
  const code = typeof e === "object" && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

function isSqlState(code: string): boolean {
  return /^[0-9A-Z]{5}$/.test(code) && !code.startsWith("E");
}
