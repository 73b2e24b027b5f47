// `lokario-cron integrations list`: the mailboxes, how they log in, which folders they sync, their
// state (what it means and the command that fixes it) and how their last sync went. Passwords and
// tokens are never selected, so they cannot be printed by mistake.

import { asc, eq } from "drizzle-orm";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { delegateOf } from "../../lib/mailbox-identity.js";
import { MAILBOX_STATE_COLUMNS, mailboxStateOf } from "../../lib/ops/mailbox-state.js";
import { countOf } from "./count-words.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { describeMailboxState } from "./describe-mailbox.js";

const FOLDER_NAMES: Record<string, string> = { inbox: "INBOX", sent: "Sent" };

export async function listIntegrationsCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, { company: { type: "string" } });
  const companyId = values.company === undefined ? undefined : parseId(values.company, "--company");
  const t = inboxIntegrations;
  const rows = await ctx.withDatabase("integrations list", ({ db }) =>
    db
      .select({
        ...MAILBOX_STATE_COLUMNS,
        name: t.name, email: t.emailAddress, username: t.imapUsername,
        server: t.imapServer, port: t.imapPort, useSsl: t.useSsl, tlsRejectUnauthorized: t.tlsRejectUnauthorized,
        isPrimary: t.isPrimary, syncIntervalMinutes: t.syncIntervalMinutes, lastSyncAt: t.lastSyncAt,
      })
      .from(t)
      .where(companyId === undefined ? undefined : eq(t.companyId, companyId))
      .orderBy(asc(t.companyId), asc(t.id)),
  );
  const now = new Date();
  const listed = rows.map((row) => {
    const state = mailboxStateOf(row, now);
    return { ...row, state: state.code, stateText: describeMailboxState(row, state, now) };
  });
  const human = listed.length === 0 ? "No integrations." : listed.map(describe).join("\n");
  ctx.print(values.json, listed, human);
  return 0;
}

function describe(row: {
  id: number; companyId: number; email: string | null; username: string | null; server: string | null;
  port: number | null; useSsl: boolean; tlsRejectUnauthorized: boolean; isPrimary: boolean; syncIntervalMinutes: number;
  authMethod: string; oauthProvider: string | null; emailAddress: string | null; oauthConsentingAccount: string | null; syncedFolders: string[];
  lastSyncAt: Date | null; lastSyncStatus: string | null; lastSyncError: string | null; stateText: string;
}): string {
  const flags = [
    row.isPrimary ? "primary" : undefined,
    row.useSsl ? "TLS" : "STARTTLS",
    row.tlsRejectUnauthorized ? undefined : "certificate not verified",
    `every ${countOf(row.syncIntervalMinutes, "minute")}`,
  ].filter(Boolean);
  const delegate = delegateOf(row);
  const login = row.authMethod === "oauth2"
    ? `OAuth2 (${row.oauthProvider ?? "?"})${delegate ? `, shared mailbox opened with ${delegate}'s consent` : ""}`
    : `password${row.username && row.username !== row.email ? `, login ${row.username}` : ""}`;
  const folders = row.syncedFolders.map((f) => FOLDER_NAMES[f] ?? f).join(" and ");
  const lastSync = row.lastSyncAt
    ? `last sync ${row.lastSyncAt.toISOString()}: ${row.lastSyncStatus ?? "unknown"}${row.lastSyncError ? `: ${row.lastSyncError}` : ""}`
    : "never synced";
  return `#${row.id}  company ${row.companyId}  ${row.email ?? "?"}  ${row.server ?? "?"}:${row.port ?? "?"}  ${flags.join(", ")}\n` +
    `    login: ${login}; folders: ${folders}\n` +
    `    ${row.stateText}\n` +
    `    ${lastSync}`;
}
