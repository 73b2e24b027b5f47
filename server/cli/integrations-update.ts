// `lokario-cron integrations update|enable|disable ID`: changes a mailbox's settings or turns it
// on and off. The rules (what a change resets) live in lib/inbox/update-integration.ts.

import { eq } from "drizzle-orm";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import type { Db } from "../../lib/db/client.js";
import { FOLDER_ROLES, type FolderRole, inboxIntegrations } from "../../lib/db/schema.js";
import { parseFolderRoles } from "../../lib/inbox/folder-roles.js";
import { type DiscoveredSmtp, discoverSmtp } from "../../lib/mail/discover-smtp.js";
import { type IntegrationChanges, type IntegrationUpdate, updateIntegration } from "../../lib/inbox/update-integration.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { secretFrom } from "./read-password.js";
import { CliError, UsageError } from "./usage.js";

const HOST = /^[A-Za-z0-9.:[\]-]+$/;

export async function updateIntegrationCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    server: { type: "string" },
    port: { type: "string" },
    ssl: { type: "boolean" },
    "no-ssl": { type: "boolean" },
    "insecure-tls": { type: "boolean" },
    "verify-tls": { type: "boolean" },
    email: { type: "string" },
    username: { type: "string" },
    name: { type: "string" },
    interval: { type: "string" },
    primary: { type: "boolean" },
    "no-primary": { type: "boolean" },
    "password-stdin": { type: "boolean" },
    "password-env": { type: "string" },
    "smtp-server": { type: "string" },
    "smtp-port": { type: "string" },
    "smtp-ssl": { type: "boolean" },
    "smtp-starttls": { type: "boolean" },
    "smtp-username": { type: "string" },
    "smtp-password-stdin": { type: "boolean" },
    "smtp-password-env": { type: "string" },
    "smtp-clear": { type: "boolean" },
    "smtp-discover": { type: "boolean" },
    folders: { type: "string" },
  }, ["ID"]);
  const id = parseId(positionals[0], "ID");
  const v = values;
  exclusive(v.ssl, v["no-ssl"], "--ssl", "--no-ssl");
  exclusive(v["insecure-tls"], v["verify-tls"], "--insecure-tls", "--verify-tls");
  exclusive(v.primary, v["no-primary"], "--primary", "--no-primary");
  exclusive(v["smtp-ssl"], v["smtp-starttls"], "--smtp-ssl", "--smtp-starttls");
  exclusive(v["password-stdin"], v["password-env"] !== undefined, "--password-stdin", "--password-env");
  exclusive(v["smtp-password-stdin"], v["smtp-password-env"] !== undefined, "--smtp-password-stdin", "--smtp-password-env");
  if (v["password-stdin"] && v["smtp-password-stdin"]) {
    throw new UsageError("only one password can come from stdin: pass the other with --password-env or --smtp-password-env");
  }
  const smtpGiven = ["smtp-server", "smtp-port", "smtp-ssl", "smtp-starttls", "smtp-username", "smtp-password-stdin", "smtp-password-env"]
    .some((k) => v[k as keyof typeof v] !== undefined);
  if ((v["smtp-clear"] || v["smtp-discover"]) && (smtpGiven || (v["smtp-clear"] && v["smtp-discover"]))) {
    throw new UsageError("--smtp-clear and --smtp-discover cannot be combined with other --smtp-* options");
  }

  const changes: IntegrationChanges = {
    name: v.name,
    emailAddress: v.email === undefined ? undefined : emailOf(v.email),
    imapUsername: v.username === undefined ? undefined : v.username.trim() || null,
    imapServer: v.server === undefined ? undefined : hostOf(v.server, "--server"),
    imapPort: v.port === undefined ? undefined : parseId(v.port, "--port", { max: 65_535 }),
    useSsl: v.ssl ? true : v["no-ssl"] ? false : undefined,
    tlsRejectUnauthorized: v["insecure-tls"] ? false : v["verify-tls"] ? true : undefined,
    syncIntervalMinutes: v.interval === undefined ? undefined : parseId(v.interval, "--interval", { max: 10_080 }),
    isPrimary: v.primary ? true : v["no-primary"] ? false : undefined,
    syncedFolders: v.folders === undefined ? undefined : foldersOf(v.folders),
    smtp: v["smtp-clear"]
      ? { server: null, port: null, useSsl: null, username: null, password: null }
      : {
          server: v["smtp-server"] === undefined ? undefined : hostOf(v["smtp-server"], "--smtp-server"),
          port: v["smtp-port"] === undefined ? undefined : parseId(v["smtp-port"], "--smtp-port", { max: 65_535 }),
          useSsl: v["smtp-ssl"] ? true : v["smtp-starttls"] ? false : undefined,
          username: v["smtp-username"] === undefined ? undefined : v["smtp-username"].trim() || null,
        },
  };
  const needsImapPassword = v["password-stdin"] || v["password-env"] !== undefined;
  const needsSmtpPassword = v["smtp-password-stdin"] || v["smtp-password-env"] !== undefined;
  const keys = { encryptionKey: ctx.config.encryptionKey };
  // Fail on a missing or malformed key before anyone types a password.
  if (needsImapPassword || needsSmtpPassword) encryptSecret("", keys);

  return ctx.withDatabase("integrations update", async ({ db }) => {
    if (needsImapPassword) changes.emailPassword = encryptSecret(await secretFrom(v["password-env"], "IMAP password: ", ctx), keys);
    if (needsSmtpPassword) {
      changes.smtp = { ...changes.smtp, password: encryptSecret(await secretFrom(v["smtp-password-env"], "SMTP password: ", ctx), keys) };
    }
    let discovered: DiscoveredSmtp | undefined;
    if (v["smtp-discover"]) {
      discovered = await discoverFor(db, id, ctx);
      changes.smtp = { server: discovered.host, port: discovered.port, useSsl: discovered.isSecure };
    }
    const update = await updateIntegration(db, id, changes, new Date());
    const found = discovered
      ? `SMTP found (${discovered.source}): ${discovered.host}:${discovered.port} (${discovered.isSecure ? "implicit TLS" : "STARTTLS"}).\n`
      : "";
    ctx.print(v.json, { ...update, ...(discovered ? { discovered } : {}) }, found + describeUpdate(update));
    return 0;
  });
}

export async function enableIntegrationCommand(args: string[], ctx: CliContext): Promise<number> {
  return setActive(args, ctx, true);
}

export async function disableIntegrationCommand(args: string[], ctx: CliContext): Promise<number> {
  return setActive(args, ctx, false);
}

async function setActive(args: string[], ctx: CliContext, isActive: boolean): Promise<number> {
  const { values, positionals } = parseCommand(args, {}, ["ID"]);
  const id = parseId(positionals[0], "ID");
  const verb = isActive ? "enable" : "disable";
  return ctx.withDatabase(`integrations ${verb}`, async ({ db }) => {
    const update = await updateIntegration(db, id, { isActive }, new Date());
    const human = update.changed.length === 0
      ? `Integration ${id} was already ${verb}d.`
      : isActive
        ? `Integration ${id} enabled: it syncs on the next run (imported mail and folder cursors were kept).`
        : `Integration ${id} disabled: it is no longer synced; its mail stays. Turn it back on with: lokario-cron integrations enable ${id}`;
    ctx.print(values.json, { ...update, isActive }, human);
    return 0;
  });
}

/** The columns `updateIntegration` reports as changed, in the words (and options) of this command. */
const SETTING_WORDS: Record<string, string> = {
  name: "name (--name)",
  emailAddress: "address (--email)",
  imapUsername: "login (--username)",
  imapServer: "IMAP server (--server)",
  imapPort: "IMAP port (--port)",
  useSsl: "TLS mode (--ssl/--no-ssl)",
  tlsRejectUnauthorized: "certificate check (--verify-tls/--insecure-tls)",
  syncIntervalMinutes: "sync interval (--interval)",
  emailPassword: "IMAP password (new, stored encrypted)",
  isPrimary: "sending mailbox (--primary)",
  isActive: "on/off",
  syncedFolders: "synced folders (--folders)",
  smtpServer: "SMTP server",
  smtpPort: "SMTP port",
  smtpUseSsl: "SMTP TLS mode",
  smtpUsername: "SMTP login",
  smtpPassword: "SMTP password (new, stored encrypted)",
};

function describeUpdate(update: IntegrationUpdate): string {
  if (update.changed.length === 0) return `Integration ${update.id}: nothing to change.`;
  const lines = [`Integration ${update.id} updated: ${update.changed.map((c) => SETTING_WORDS[c] ?? c).join(", ")}.`];
  if (update.portSwitchedTo) lines.push(`The port followed the TLS mode: now ${update.portSwitchedTo} (pass --port to choose another).`);
  if (update.previousPrimaryId) lines.push(`Integration ${update.previousPrimaryId} is no longer the company's sending mailbox.`);
  if (update.changed.includes("imapServer") || update.changed.includes("emailAddress") || update.changed.includes("imapUsername")) {
    lines.push(
      update.foldersReset > 0
        ? `Warning: a new server or login means new UIDs: ${update.foldersReset === 1 ? "the folder cursor was" : `the ${update.foldersReset} folder cursors were`} reset. The next sync ` +
            "imports the recent window again as backfill; messages already stored are recognised and not stored twice."
        : "No folder cursor to reset: the next sync is this mailbox's first.",
    );
  }
  lines.push(`Check it with: lokario-cron integrations test ${update.id}`);
  return lines.join("\n");
}

function exclusive(a: boolean | undefined, b: boolean | undefined, nameA: string, nameB: string): void {
  if (a && b) throw new UsageError(`${nameA} and ${nameB} cannot be used together`);
}

function hostOf(value: string, name: string): string {
  const host = value.trim();
  if (!HOST.test(host)) throw new UsageError(`${name} must be a host name (no scheme, no path), got "${value}"`);
  return host;
}

function emailOf(value: string): string {
  const email = value.trim();
  if (!/^[^\s@]+@[^\s@]+$/.test(email)) throw new UsageError(`--email must be an email address, got "${value}"`);
  return email;
}

async function discoverFor(db: Db, id: number, ctx: CliContext): Promise<DiscoveredSmtp> {
  const [row] = await db
    .select({ emailAddress: inboxIntegrations.emailAddress, imapServer: inboxIntegrations.imapServer })
    .from(inboxIntegrations)
    .where(eq(inboxIntegrations.id, id));
  if (!row) throw new CliError(`integration ${id} does not exist (see: lokario-cron integrations list)`);
  const options = ctx.config.smtpDiscovery;
  if (!options) throw new CliError("SMTP discovery is turned off (SMTP_DISCOVERY=false): give --smtp-server and --smtp-port");
  const found = row.emailAddress ? await discoverSmtp({ emailAddress: row.emailAddress, imapServer: row.imapServer }, options) : undefined;
  if (!found) {
    throw new CliError(
      `no SMTP settings found for ${row.emailAddress ?? "this mailbox"} (known providers, autoconfig, DNS SRV): ` +
        `give them with --smtp-server HOST --smtp-port N (--smtp-ssl or --smtp-starttls)`,
    );
  }
  return found;
}


function foldersOf(text: string): FolderRole[] {
  const roles = parseFolderRoles(text);
  if (roles === null) throw new UsageError(`--folders must list folder roles among ${FOLDER_ROLES.join(", ")}, e.g. "inbox,sent"`);
  return roles;
}
