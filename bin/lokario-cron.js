#!/bin/sh
":" //; exec env MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" node "$0" "$@"
// The `lokario-cron` command. Started by its shebang, the line above is shell: it caps glibc's malloc
// arenas unless the environment sets them (glibc reads the variable only as a process starts:
// README "Memory") and hands its place to Node, for which the line is a string and a comment. Node
// then runs the built CLI (scripts/build.js), rebuilt first when a source is newer than it.
import module from "node:module";
import { builtEntry } from "../scripts/build.js";

// Node 22.1+: keeps the bundle's compiled code on disk for the next start.
module.enableCompileCache?.();
await import(await builtEntry("server/cli.ts"));
