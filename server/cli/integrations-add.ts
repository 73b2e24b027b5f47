// `lokario-cron integrations add`: stores an IMAP mailbox for a company, its password encrypted
// with ENCRYPTION_KEY. The password comes from stdin or a named environment variable, never argv.
// A mailbox the company already has (same login on the same server) is refused, naming that row:
// when it is disabled, turning it back on is what is meant.

import { and, eq } from "drizzle-orm";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import type { Config } from "../../lib/config.js";
import { companies, FOLDER_ROLES, inboxIntegrations, INTEGRATION_TYPE_IMAP } from "../../lib/db/schema.js";
import { JobError } from "../../lib/errors.js";
import { disabledTwinError, duplicateMailboxError, findTwinMailboxes, isDuplicateMailboxError } from "../../lib/inbox/duplicate-mailbox.js";
import { parseFolderRoles } from "../../lib/inbox/folder-roles.js";
import { resolveMailHost } from "../../lib/mail/mail-host-guard.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { secretFrom } from "./read-password.js";
import { CliError, UsageError } from "./usage.js";

const IMPLICIT_TLS_PORT = 993;
const STARTTLS_PORT = 143;

export async function addIntegrationCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, {
    company: { type: "string" },
    email: { type: "string" },
    server: { type: "string" },
    port: { type: "string" },
    username: { type: "string" },
    "no-ssl": { type: "boolean" },
    "insecure-tls": { type: "boolean" },
    name: { type: "string" },
    interval: { type: "string" },
    "initial-days": { type: "string" },
    primary: { type: "boolean" },
    folders: { type: "string" },
    "password-env": { type: "string" },
  });
  const companyId = parseId(values.company, "--company");
  const email = required(values.email, "--email");
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new UsageError(`--email must be an email address, got "${email}"`);
  const server = required(values.server, "--server");
  if (!/^[A-Za-z0-9.:[\]-]+$/.test(server)) throw new UsageError(`--server must be a host name (no scheme, no path), got "${server}"`);
  const useSsl = !values["no-ssl"];
  const port = values.port === undefined ? (useSsl ? IMPLICIT_TLS_PORT : STARTTLS_PORT) : parseId(values.port, "--port", { max: 65_535 });
  const intervalMinutes = values.interval === undefined ? undefined : parseId(values.interval, "--interval", { max: 10_080 });
  const initialDays = values["initial-days"] === undefined ? undefined : parseId(values["initial-days"], "--initial-days", { min: 0, max: 3650 });
  const syncedFolders = values.folders === undefined ? undefined : parseFolderRoles(values.folders);
  if (syncedFolders === null) throw new UsageError(`--folders must list folder roles among ${FOLDER_ROLES.join(", ")}, e.g. "inbox,sent"`);
  const keys = { encryptionKey: ctx.config.encryptionKey };
  // Fail on a missing or malformed key, or a server the sync would refuse, before anyone types a password.
  encryptSecret("", keys);
  await refuseDisallowedServer(server, port, ctx.config);

  return ctx.withDatabase("integrations add", async ({ db }) => {
    const [company] = await db.select({ id: companies.id }).from(companies).where(eq(companies.id, companyId));
    if (!company) throw new CliError(`company ${companyId} does not exist (create it with: lokario-cron companies add NAME)`);
    // Before anyone types a password: the company may have this mailbox already, active or disabled.
    const mailbox = { companyId, login: values.username ?? email, imapServer: server };
    const [twin] = await findTwinMailboxes(db, mailbox);
    if (twin) throw twin.isActive ? duplicateMailboxError(mailbox, twin) : disabledTwinError(mailbox, twin);
    const password = await secretFrom(values["password-env"], "IMAP password: ", ctx);
    const row = {
      companyId,
      integrationType: INTEGRATION_TYPE_IMAP,
      name: values.name ?? email,
      imapServer: server,
      imapPort: port,
      emailAddress: email,
      imapUsername: values.username ?? null,
      emailPassword: encryptSecret(password, keys),
      useSsl,
      tlsRejectUnauthorized: !values["insecure-tls"],
      isActive: true,
      isPrimary: values.primary ?? false,
      ...(intervalMinutes === undefined ? {} : { syncIntervalMinutes: intervalMinutes }),
      ...(initialDays === undefined ? {} : { initialSyncDays: initialDays }),
      ...(syncedFolders === undefined ? {} : { syncedFolders }),
    };
    const id = await db.transaction(async (tx) => {
      // One sending mailbox per company: a new primary replaces the previous one.
      if (row.isPrimary) {
        await tx.update(inboxIntegrations).set({ isPrimary: false })
          .where(and(eq(inboxIntegrations.companyId, companyId), eq(inboxIntegrations.isPrimary, true)));
      }
      const [inserted] = await tx.insert(inboxIntegrations).values(row).returning({ id: inboxIntegrations.id });
      return inserted!.id;
    }).catch(async (err: unknown) => {
      // Another command added it meanwhile: the index refused ours.
      if (!isDuplicateMailboxError(err)) throw err;
      const [added] = (await findTwinMailboxes(db, mailbox)).filter((t) => t.isActive);
      throw duplicateMailboxError(mailbox, added, err);
    });
    const security = useSsl ? "implicit TLS" : "STARTTLS";
    ctx.print(
      values.json,
      { id, companyId, email, server, port, useSsl, tlsRejectUnauthorized: row.tlsRejectUnauthorized, isPrimary: row.isPrimary },
      `Integration ${id} added for company ${companyId}: ${email} on ${server}:${port} (${security}` +
        `${row.tlsRejectUnauthorized ? "" : ", certificate not verified"})${row.isPrimary ? ", primary" : ""}.\n` +
        `Check it with: lokario-cron integrations test ${id}`,
    );
    return 0;
  });
}

/**
 * The sync's own check (mail-host-guard.ts), with its one message, at the time the mailbox is added.
 * A lookup that fails here (no network, a name not published yet) is left to the sync to report.
 */
async function refuseDisallowedServer(server: string, port: number, config: Config): Promise<void> {
  if (config.mailHosts.isPrivateAllowed && config.mailHosts.allowedPorts === "any") return;
  try {
    await resolveMailHost(server, port, config.mailHosts, { timeoutMs: config.imap.connectTimeoutMs });
  } catch (err) {
    if (err instanceof JobError) throw new CliError(err.message);
  }
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value.trim() === "") throw new UsageError(`${name} is required`);
  return value.trim();
}

