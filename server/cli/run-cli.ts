// The CLI's dispatcher: picks the command, runs it, and turns every outcome into an exit code
// (0 success, 1 failure, 2 usage) with a one-line message on stderr. Commands are imported only
// when chosen, so `--help` and usage errors answer without loading database and mail libraries.

import { ConfigError } from "../../lib/config.js";
import { JobError, shortReason } from "../../lib/errors.js";
import { PgliteInUseError } from "../pglite-lock.js";
import type { CliContext, CliIo } from "./context.js";
import { CliError, USAGE, UsageError } from "./usage.js";

type Command = (args: string[], ctx: CliContext) => Promise<number>;

/** Commands by their words; a two-word command takes precedence over a one-word one. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  migrate: async () => (await import("./migrate.js")).migrateCommand,
  "companies add": async () => (await import("./companies.js")).addCompanyCommand,
  "companies sms": async () => (await import("./companies-sms.js")).companySmsCommand,
  "integrations add": async () => (await import("./integrations-add.js")).addIntegrationCommand,
  "integrations list": async () => (await import("./integrations-list.js")).listIntegrationsCommand,
  "integrations test": async () => (await import("./integrations-test.js")).testIntegrationCommand,
  "integrations connect": async () => (await import("./integrations-connect.js")).connectIntegrationCommand,
  "integrations update": async () => (await import("./integrations-update.js")).updateIntegrationCommand,
  "integrations enable": async () => (await import("./integrations-update.js")).enableIntegrationCommand,
  "integrations disable": async () => (await import("./integrations-update.js")).disableIntegrationCommand,
  "integrations remove": async () => (await import("./integrations-remove.js")).removeIntegrationCommand,
  sync: async () => (await import("./run-jobs.js")).syncCommand,
  "followups run": async () => (await import("./run-jobs.js")).followupsRunCommand,
  "jobs run": async () => (await import("./run-jobs.js")).jobsRunCommand,
  status: async () => (await import("./status.js")).statusCommand,
  "followups uncertain": async () => (await import("./followups-uncertain.js")).listUncertainCommand,
  "followups resolve": async () => (await import("./followups-uncertain.js")).resolveUncertainCommand,
  "inbox quarantine": async () => (await import("./inbox-quarantine.js")).listQuarantineCommand,
  "inbox reimport": async () => (await import("./inbox-quarantine.js")).reimportCommand,
  "inbox reset-folder": async () => (await import("./inbox-reset-folder.js")).resetFolderCommand,
  "attachments move-to-bucket": async () => (await import("./attachments-move.js")).moveToBucketCommand,
};

/** Runs one command line and returns the process exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  if (argv.length === 0) {
    io.stderr.write(USAGE);
    return 2;
  }
  if (argv.includes("--help") || argv.includes("-h") || argv[0] === "help") {
    io.stdout.write(USAGE);
    return 0;
  }
  const twoWords = `${argv[0]} ${argv[1] ?? ""}`;
  const [name, args] = COMMANDS[twoWords] ? [twoWords, argv.slice(2)] : [argv[0]!, argv.slice(1)];
  const load = COMMANDS[name];
  try {
    if (!load) throw new UsageError(`unknown command "${argv.slice(0, 2).join(" ")}"`);
    const [command, { CliContext }] = await Promise.all([load(), import("./context.js")]);
    return await command(args, new CliContext(io));
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`lokario-cron: ${err.message}\nRun "lokario-cron --help" for the commands and their options.\n`);
      return 2;
    }
    io.stderr.write(`lokario-cron: ${describeFailure(err)}\n`);
    return 1;
  }
}

/** What went wrong, in one line an operator can act on (never a stack, never a secret). */
function describeFailure(err: unknown): string {
  if (err instanceof ConfigError) return `configuration: ${err.message}`;
  // Matched by name: importing its class would load every database driver before any command runs.
  if (err instanceof Error && err.name === "DatabaseUnavailableError") {
    return `${err.message} (check DATABASE_URL and the database server)`;
  }
  if (err instanceof CliError || err instanceof PgliteInUseError || err instanceof JobError) return err.message;
  return shortReason(err);
}
