// Entry point of the `lokario-cron` command (see `lokario-cron --help`). Run through
// bin/lokario-cron.js or `tsx server/cli.ts`; the commands live in server/cli/.

import { runCli } from "./cli/run-cli.js";

const exitCode = await runCli(process.argv.slice(2), {
  env: process.env,
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
});
// Exit now rather than wait on sockets a library may keep open (stdout and stderr are synchronous
// for files and pipes on POSIX, so nothing printed is lost). Databases are closed by each command.
process.exit(exitCode);
