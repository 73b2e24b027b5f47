// Reads the imports of every module of lib/ (type-only, re-exports and dynamic imports included),
// with the TypeScript compiler's own pre-processor, so the import-graph test sees what tsc sees.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export const LIB = fileURLToPath(new URL("../../lib/", import.meta.url));

/** Every .ts file of lib/, relative to lib/ (`inbox/sync-all.ts`). */
export function libFiles(dir = LIB): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return libFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [relative(LIB, path)] : [];
  });
}

/** The modules of lib/ that `file` (relative to lib/) imports, relative to lib/; packages, node: and files outside lib/ left out. */
export function importsOf(file: string, source = readFileSync(join(LIB, file), "utf8")): string[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return importedFiles
    .map((ref) => ref.fileName)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => relative(LIB, resolve(dirname(join(LIB, file)), specifier.replace(/\.js$/, ".ts"))))
    .filter((path) => !path.startsWith(".."));
}

/** The room of a module: its first folder under lib/ (`inbox`), or the file itself at lib/'s root (`config.ts`). */
export function roomOf(file: string): string {
  const slash = file.indexOf("/");
  return slash === -1 ? file : file.slice(0, slash);
}
