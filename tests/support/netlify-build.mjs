// Bundles the Netlify functions as Netlify's build does: its bundler (zip-it-and-ship-it) over the
// functions directory, configured from netlify.toml the way the build translates it. Run as a child
// process: the bundler's esbuild service would otherwise outlive the test. Unpacked rather than
// zipped (the same files, without compressing them). Prints the bundler's result as JSON.
// Usage: node netlify-build.mjs OUT_DIR
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { zipFunctions } from "@netlify/zip-it-and-ship-it";
import { parse } from "smol-toml";

const root = fileURLToPath(new URL("../..", import.meta.url));
const toml = parse(readFileSync(join(root, "netlify.toml"), "utf8"));
const functions = toml.functions ?? {};
const environment = toml.build?.environment ?? {};
const config = {
  "*": {
    includedFiles: functions.included_files,
    includedFilesBasePath: root,
    externalNodeModules: functions.external_node_modules,
    nodeBundler: functions.node_bundler === "esbuild" ? "esbuild_zisi" : functions.node_bundler,
    // The build hands the functions its own Node.js major unless AWS_LAMBDA_JS_RUNTIME says otherwise.
    nodeVersion: environment.AWS_LAMBDA_JS_RUNTIME ?? (environment.NODE_VERSION ? `nodejs${environment.NODE_VERSION}.x` : undefined),
  },
};
const built = await zipFunctions([join(root, functions.directory ?? "netlify/functions")], process.argv[2], {
  archiveFormat: "none", basePath: root, repositoryRoot: root, config,
});
process.stdout.write(JSON.stringify(built));
