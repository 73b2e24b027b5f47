// `lokario-cron integrations test ID`: connects to one mailbox with its stored settings and says
// what it found, without changing anything (LIST and STATUS only: no SELECT, no flags touched).

import { eq } from "drizzle-orm";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { JobError, kindOf, shortReason } from "../../lib/errors.js";
import { type ImapSettings, imapLogin, withImap } from "../../lib/mail/imap.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { CliError } from "./usage.js";

interface MailboxReport {
  integrationId: number;
  server: string;
  port: number;
  login: string | null;
  tls: "implicit" | "starttls";
  folders: { path: string; specialUse?: string }[];
  inbox: { messages?: number; unseen?: number; uidValidity?: string; uidNext?: number };
}

export async function testIntegrationCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, {}, ["ID"]);
  const id = parseId(positionals[0], "ID");
  const integration: ImapSettings | undefined = await ctx.withDatabase("integrations test", async ({ db }) => {
    const t = inboxIntegrations;
    const [row] = await db
      .select({
        id: t.id, imapServer: t.imapServer, imapPort: t.imapPort, emailAddress: t.emailAddress, imapUsername: t.imapUsername,
        emailPassword: t.emailPassword, useSsl: t.useSsl, tlsRejectUnauthorized: t.tlsRejectUnauthorized,
      })
      .from(t)
      .where(eq(t.id, id));
    return row;
  });
  if (!integration) throw new CliError(`integration ${id} does not exist (see: lokario-cron integrations list)`);

  const { config } = ctx;
  try {
    const report = await withImap(
      integration,
      {
        keys: { encryptionKey: config.encryptionKey, legacyMasterKey: config.legacyMasterKey },
        connectTimeoutMs: config.imap.connectTimeoutMs,
        commandTimeoutMs: config.imap.commandTimeoutMs,
        log: ctx.logger("cli:integrations-test"),
        hostPolicy: config.mailHosts,
      },
      async ({ client }): Promise<MailboxReport> => {
        const folders = await client.list();
        const inbox = await client.status("INBOX", { messages: true, unseen: true, uidValidity: true, uidNext: true });
        // imapflow answers `false` when the server refused STATUS (no INBOX: a broken account).
        if (!inbox) throw new JobError("permanent", "the server has no INBOX for this login");
        return {
          integrationId: id,
          server: integration.imapServer ?? "",
          port: integration.imapPort ?? (integration.useSsl ? 993 : 143),
          login: imapLogin(integration),
          tls: integration.useSsl ? "implicit" : "starttls",
          folders: folders.map((f) => (f.specialUse ? { path: f.path, specialUse: f.specialUse } : { path: f.path })),
          inbox: {
            messages: inbox.messages,
            unseen: inbox.unseen,
            uidValidity: inbox.uidValidity?.toString(),
            uidNext: inbox.uidNext,
          },
        };
      },
    );
    ctx.print(values.json, { success: true, ...report }, describe(report));
    return 0;
  } catch (err) {
    const kind = kindOf(err);
    const reason = err instanceof JobError ? err.message : shortReason(err);
    ctx.print(values.json, { success: false, integrationId: id, kind, error: reason }, `Integration ${id}: connection failed (${kind}): ${reason}`);
    return 1;
  }
}

function describe(report: MailboxReport): string {
  const { inbox } = report;
  const folders = report.folders.map((f) => (f.specialUse ? `${f.path} ${f.specialUse}` : f.path));
  return [
    `Integration ${report.integrationId}: connected to ${report.server}:${report.port} ` +
      `(${report.tls === "implicit" ? "implicit TLS" : "STARTTLS"}) as ${report.login}`,
    `INBOX: ${inbox.messages ?? "?"} messages (${inbox.unseen ?? "?"} unseen), UIDVALIDITY ${inbox.uidValidity ?? "?"}, next UID ${inbox.uidNext ?? "?"}`,
    `Folders (${folders.length}): ${folders.join(", ")}`,
  ].join("\n");
}
