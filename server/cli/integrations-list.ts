// `lokario-cron integrations list`: the mailboxes and how their last sync went. The password
// column is never selected, so it cannot be printed by mistake.

import { asc, eq } from "drizzle-orm";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { type CliContext, parseCommand, parseId } from "./context.js";

export async function listIntegrationsCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, { company: { type: "string" } });
  const companyId = values.company === undefined ? undefined : parseId(values.company, "--company");
  const t = inboxIntegrations;
  const rows = await ctx.withDatabase("integrations list", ({ db }) =>
    db
      .select({
        id: t.id, companyId: t.companyId, name: t.name, email: t.emailAddress, username: t.imapUsername,
        server: t.imapServer, port: t.imapPort, useSsl: t.useSsl, tlsRejectUnauthorized: t.tlsRejectUnauthorized,
        isActive: t.isActive, isPrimary: t.isPrimary, syncIntervalMinutes: t.syncIntervalMinutes,
        lastSyncAt: t.lastSyncAt, lastSyncStatus: t.lastSyncStatus, lastSyncError: t.lastSyncError,
        consecutiveFailures: t.consecutiveFailures, failingSince: t.failingSince, nextSyncAt: t.nextSyncAt,
      })
      .from(t)
      .where(companyId === undefined ? undefined : eq(t.companyId, companyId))
      .orderBy(asc(t.companyId), asc(t.id)),
  );
  const human = rows.length === 0 ? "No integrations." : rows.map(describe).join("\n");
  ctx.print(values.json, rows, human);
  return 0;
}

function describe(row: {
  id: number; companyId: number; email: string | null; username: string | null; server: string | null;
  port: number | null; useSsl: boolean; tlsRejectUnauthorized: boolean; isActive: boolean; isPrimary: boolean;
  syncIntervalMinutes: number; lastSyncAt: Date | null; lastSyncStatus: string | null; lastSyncError: string | null;
  consecutiveFailures: number;
}): string {
  const flags = [
    row.isActive ? "active" : "inactive",
    row.isPrimary ? "primary" : undefined,
    row.useSsl ? "TLS" : "STARTTLS",
    row.tlsRejectUnauthorized ? undefined : "certificate not verified",
    `every ${row.syncIntervalMinutes} min`,
  ].filter(Boolean);
  const login = row.username && row.username !== row.email ? ` (login ${row.username})` : "";
  const lastSync = row.lastSyncAt
    ? `last sync ${row.lastSyncAt.toISOString()}: ${row.lastSyncStatus ?? "unknown"}` +
      (row.lastSyncError ? `: ${row.lastSyncError}` : "") +
      (row.consecutiveFailures > 0 ? ` (${row.consecutiveFailures} failure${row.consecutiveFailures > 1 ? "s" : ""} in a row)` : "")
    : "never synced";
  return `#${row.id}  company ${row.companyId}  ${row.email ?? "?"}${login}  ${row.server ?? "?"}:${row.port ?? "?"}  ` +
    `${flags.join(", ")}\n    ${lastSync}`;
}
