// The first-import case alone, without the rest of `npm run bench` (several minutes shorter):
// `npx tsx bench/first-import-alone.ts`, sized by BENCH_IMPORT_MESSAGES. Prints its figures.

import { startDovecot } from "../tests/support/dovecot.js";
import { startPostgres } from "../tests/support/postgres.js";
import { benchFirstImport } from "./first-import.js";

const dovecot = await startDovecot();
const postgres = await startPostgres();
try {
  for (const figure of await benchFirstImport(dovecot, postgres)) console.log(`${figure.name}: ${figure.value.toFixed(2)} ${figure.unit}`);
} finally {
  await dovecot.stop();
  await postgres.stop();
}
