#!/usr/bin/env node
// The `lokario-cron` command: runs the TypeScript CLI through tsx, so no build step is needed.
import { register } from "tsx/esm/api";

register();
await import(new URL("../server/cli.ts", import.meta.url).href);
