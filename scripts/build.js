// Builds the CLI and the local server (server/cli.ts, server/local.ts) into dist/ with esbuild: one
// file each, holding our code and the packages it uses, run by plain Node. Loading the TypeScript
// through tsx instead compiled every module and read some 900 package files one by one at each start
// (an idle `lokario-cron sync`: 2.9 s, most of it start-up), and kept tsx's compiled sources in
// memory. `npm install` runs this (prepare, also `npm run build`); `lokario-cron` and `npm start`
// run it again first when a source is newer than the build (after a `git pull`, an edit).

import { mkdirSync, readdirSync, renameSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/**
 * Each bundle sits at its source's depth (dist/server/cli.js for server/cli.ts), so a path a module
 * takes relative to itself still lands in the same place: the migrations folder of lib/db/migrate.ts.
 */
const DIST = join(ROOT, "dist");
const ENTRIES = ["server/cli.ts", "server/local.ts"];
/** What a bundle is made of: our sources, the migrations' journal, the installed packages. */
const SOURCES = ["lib", "server", "drizzle/meta/_journal.json", "package.json", "node_modules/.package-lock.json"];
/**
 * Left as imports of node_modules: PGlite loads its WebAssembly and data files from its own folder;
 * the others are optional native add-ons their packages try to load and do without.
 */
const EXTERNAL = ["@electric-sql/pglite", "pg-native", "bufferutil", "utf-8-validate"];
/** The packages bundled into ES modules still call `require` (for Node's built-in modules). */
const REQUIRE_SHIM = 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);';

/** The file URL of `entry`'s bundle, built first when it is missing or older than a source. */
export async function builtEntry(entry) {
  const bundle = bundleOf(entry);
  if (isStale(bundle)) await build([entry]);
  return pathToFileURL(bundle).href;
}

/** Builds `entries` (all by default), each bundle replacing the previous one in a single rename. */
export async function build(entries = ENTRIES) {
  const { build: esbuild } = await import("esbuild");
  // Dated from before the sources are read, so an edit made during the build leaves it stale.
  const startedAt = new Date();
  const result = await esbuild({
    entryPoints: entries.map((entry) => join(ROOT, entry)),
    outdir: DIST,
    outbase: ROOT,
    bundle: true,
    platform: "node",
    format: "esm",
    target: `node${process.versions.node}`,
    external: EXTERNAL,
    banner: { js: REQUIRE_SHIM },
    write: false,
    logLevel: "warning",
  });
  for (const file of result.outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true });
    // Written aside, then renamed: another process starting meanwhile loads the old file or the new, never half of one.
    const written = `${file.path}.${process.pid}.tmp`;
    writeFileSync(written, file.contents);
    utimesSync(written, startedAt, startedAt);
    renameSync(written, file.path);
  }
}

function bundleOf(entry) {
  return join(DIST, entry.replace(/\.ts$/, ".js"));
}

function isStale(bundle) {
  let builtAtMs;
  try {
    builtAtMs = statSync(bundle).mtimeMs;
  } catch {
    return true;
  }
  return SOURCES.some((source) => isNewer(join(ROOT, source), builtAtMs));
}

/** Whether `path` (a file, or any file below a folder) changed after `thenMs`; a missing path has not. */
function isNewer(path, thenMs) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return false;
  }
  if (!stat.isDirectory()) return stat.mtimeMs > thenMs;
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .some((entry) => entry.isFile() && statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs > thenMs);
}

// `node scripts/build.js` builds everything; `--if-stale ENTRY` only that entry, and only when stale.
if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
  const [flag, entry] = process.argv.slice(2);
  if (flag === "--if-stale" && entry) await builtEntry(entry);
  else await build();
}
