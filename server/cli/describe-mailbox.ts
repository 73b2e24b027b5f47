// A mailbox's state (lib/ops/mailbox-state.ts) in the CLI's words: what it is, what happens next,
// and the commands that get it out of it. `integrations list`, `sync --integration` and `status`
// print these.

import type { ErrorKind } from "../../lib/errors.js";
import { delegateOf } from "../../lib/mailbox-identity.js";
import { fixCommandsFor, type MailboxState, type MailboxStateRow } from "../../lib/ops/mailbox-state.js";
import { countOf } from "./count-words.js";

const KIND_WORDS: Record<ErrorKind, string> = {
  auth: "access refused",
  transient: "a temporary failure, retried automatically",
  permanent: "a setting to fix: retrying will fail the same way",
  "bad-input": "invalid data",
};

const PROVIDER_NAMES: Record<string, string> = { google: "Google", microsoft: "Microsoft", oidc: "the OpenID Connect provider" };

/** One line: the state, when it is tried next, and what to run about it. */
export function describeMailboxState(row: MailboxStateRow, state: MailboxState, now: Date): string {
  const commands = fixCommandsFor(row, state);
  const fix = commands.length ? `: ${commands.join(", then ")}` : "";
  const since = row.failingSince ? ` since ${row.failingSince.toISOString()}` : "";
  const inARow = row.consecutiveFailures > 0 ? ` (${countOf(row.consecutiveFailures, "failure")} in a row)` : "";
  const next = state.nextTryAt && state.nextTryAt.getTime() > now.getTime() ? `next try ${state.nextTryAt.toISOString()}` : "next try at the next run";
  switch (state.code) {
    case "not-imap":
      return `not synced by this service (integration type ${row.integrationType})`;
    case "disabled":
      return `disabled: not synced, its mail stays. Turn it back on with${fix}`;
    case "reconnect-needed": {
      const provider = PROVIDER_NAMES[row.oauthProvider ?? ""] ?? "the provider";
      const delegate = delegateOf(row);
      const withdrawn = delegate
        ? `${provider} no longer accepts ${delegate}'s access to the shared mailbox ${row.emailAddress} (authorization revoked or expired, or that account lost access to the mailbox)`
        : `${provider} withdrew its authorization`;
      return `needs reconnection since ${row.oauthReconnectNeededAt!.toISOString()}: ${withdrawn}; it is neither synced nor used for follow-ups, ` +
        `and not retried until connected again. Connect it again with${fix}${delegate ? " (any member with access to the shared mailbox may consent; its history stays)" : ""}`;
    }
    case "syncing":
      return `being synced by another run right now (its lease ends ${row.leaseUntil!.toISOString()})`;
    case "login-refused":
      return row.authMethod === "oauth2"
        ? `login refused by the mail server${since}${inARow}; ${next}. Connect it again with${fix}`
        : `login refused by the server${since}${inARow}; ${next} (spaced out, so the account is not locked). Give the right password with${fix}`;
    case "folder-stopped":
      return `folder ${state.stoppedFolder} stopped${since}: the server renumbered its messages on several syncs in a row. Let it sync again with${fix}`;
    case "failing":
      return `failing${since}${inARow}: ${state.kind ? KIND_WORDS[state.kind] : "see the error"}; ${next}. ` +
        (state.kind === "transient" ? `Try again now with${fix}` : `Find what to change with${fix}, then lokario-cron integrations update ${row.id}`);
    case "never-synced":
      return `never synced yet: the next run takes it (or now: ${commands.join("")})`;
    case "ok":
      return `active, ${next}`;
  }
}
