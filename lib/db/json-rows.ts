/// <reference lib="es2024.string" />
// Rows handed to PostgreSQL as ONE JSON parameter, expanded by `json_populate_recordset` into the
// table's own row type: a multi-row insert (or the input of an `UPDATE … FROM`) then costs one
// parameter, whatever the number of rows, instead of one per value that the query builder maps and
// the driver serializes one at a time. The inbox import writes a downloaded batch's rows this way
// (`message-rows.ts`): the same statement on PGlite, node-postgres and Neon.

import { getTableColumns, type SQL, sql } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";

export interface JsonRows {
  /** The columns the rows set, for an insert's column list or a select list. */
  columns: SQL;
  /** The rows as a FROM item named `alias`, with the table's columns and types. */
  recordset: SQL;
}

/**
 * `rows` of `table` (keyed as the schema's fields), ready for `insert into t (columns) select
 * columns from recordset`. Every row should set the same fields: a field left undefined is NULL in
 * that row, not the column's default. Values travel as JSON (dates as ISO text, objects for jsonb
 * columns), so only plain columns fit, not custom types with a driver mapping (bytea).
 */
export function jsonRows<T extends PgTable>(table: T, rows: Partial<T["$inferInsert"]>[], alias = "r"): JsonRows {
  const columns = getTableColumns(table) as Record<string, PgColumn>;
  const fields = [...new Set(rows.flatMap((row) => Object.keys(row)))].filter((field) => columns[field] !== undefined);
  const records = rows.map((row) => {
    const record: Record<string, unknown> = {};
    for (const field of fields) record[columns[field]!.name] = (row as Record<string, unknown>)[field];
    return record;
  });
  return {
    columns: sql.join(fields.map((field) => sql.identifier(columns[field]!.name)), sql`, `),
    recordset: sql`json_populate_recordset(null::${table}, ${jsonParam(records)}::json) as ${sql.identifier(alias)}`,
  };
}

/** A column's name, unqualified (a SET clause or an insert's column list refuses `"table"."column"`). */
export function columnName(column: PgColumn): SQL {
  return sql`${sql.identifier(column.name)}`;
}

/** How JSON.stringify writes a lone surrogate (a paired one stays as its two characters). */
const LONE_SURROGATE_ESCAPE = /\\ud[89a-f][0-9a-f]{2}/i;

/**
 * `value` as the text of a `json` parameter. JSON.stringify escapes a lone UTF-16 surrogate (broken
 * mail decodes into some) as `\udXXX`, which PostgreSQL's JSON parser refuses; a text parameter
 * carries it as U+FFFD (the UTF-8 encoder's replacement), so the same replacement is made here.
 */
export function jsonParam(value: unknown): string {
  const json = JSON.stringify(value);
  // A replacer makes JSON.stringify several times slower: only when an escaped surrogate shows
  // (rare; an escaped backslash before "ud8" also matches, which only costs the slower pass).
  if (!LONE_SURROGATE_ESCAPE.test(json)) return json;
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "string" ? v.toWellFormed() : v));
}
