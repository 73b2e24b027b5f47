// `lokario-cron integrations test ID`: connects to one mailbox with its stored settings and says
// what it found, without changing anything in the mailbox (LIST, STATUS, and EXAMINE with SEARCH
// when several folders are named like Sent: no SELECT, no flags touched). The Sent folders shown are
// the ones the sync reads, chosen the same way (`sent-folders.ts`). It logs in as the sync does (`credentialsFor`): the stored password, or for an OAuth2
// mailbox an access token, refreshed first when it is about to expire (the new token is stored).

import { eq } from "drizzle-orm";
import { inboxIntegrations } from "../../lib/db/schema.js";
import { JobError, kindOf, shortReason } from "../../lib/errors.js";
import { credentialsFor, isRenewable, type MailLogin } from "../../lib/mail/credentials.js";
import { withImap } from "../../lib/mail/imap.js";
import { rememberedSentFolders } from "../../lib/inbox/imap/folder-plan.js";
import { chooseSentFolders, type SentChoice } from "../../lib/inbox/imap/sent-folders.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { CliError } from "./usage.js";

interface MailboxReport {
  integrationId: number;
  server: string;
  port: number;
  login: string;
  authMethod: "password" | "oauth2";
  tls: "implicit" | "starttls";
  folders: { path: string; specialUse?: string }[];
  inbox: { messages?: number; unseen?: number; uidValidity?: string; uidNext?: number };
  sent: SentChoice;
}

export async function testIntegrationCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, {}, ["ID"]);
  const id = parseId(positionals[0], "ID");
  const { config } = ctx;
  const log = ctx.logger("cli:integrations-test");
  // The database stays open during the test: an OAuth2 token may have to be refreshed and stored.
  const outcome = await ctx.withDatabase("integrations test", async ({ db }): Promise<{ report: MailboxReport } | { error: unknown }> => {
    const t = inboxIntegrations;
    const [integration] = await db
      .select({
        id: t.id, authMethod: t.authMethod, imapServer: t.imapServer, imapPort: t.imapPort, emailAddress: t.emailAddress,
        imapUsername: t.imapUsername, emailPassword: t.emailPassword, smtpUsername: t.smtpUsername, smtpPassword: t.smtpPassword,
        useSsl: t.useSsl, tlsRejectUnauthorized: t.tlsRejectUnauthorized,
      })
      .from(t)
      .where(eq(t.id, id));
    if (!integration) throw new CliError(`integration ${id} does not exist (see: lokario-cron integrations list)`);

    const deps = { db, config, now: () => new Date(), log };
    const session = (login: MailLogin) => withImap(
      integration,
      {
        keys: { encryptionKey: config.encryptionKey, legacyMasterKey: config.legacyMasterKey },
        login,
        connectTimeoutMs: config.imap.connectTimeoutMs,
        commandTimeoutMs: config.imap.commandTimeoutMs,
        log,
        hostPolicy: config.mailHosts,
      },
      async ({ client }): Promise<MailboxReport> => {
        const folders = await client.list();
        const inbox = await client.status("INBOX", { messages: true, unseen: true, uidValidity: true, uidNext: true });
        // imapflow answers `false` when the server refused STATUS (no INBOX: a broken account).
        if (!inbox) throw new JobError("permanent", "the server has no INBOX for this login");
        const sent = await chooseSentFolders(client, folders, {
          address: integration.emailAddress, now: new Date(), remembered: () => rememberedSentFolders(db, id),
        });
        return {
          integrationId: id,
          server: integration.imapServer ?? "",
          port: integration.imapPort ?? (integration.useSsl ? 993 : 143),
          login: login.user,
          authMethod: integration.authMethod,
          tls: integration.useSsl ? "implicit" : "starttls",
          folders: folders.map((f) => (f.specialUse ? { path: f.path, specialUse: f.specialUse } : { path: f.path })),
          inbox: { messages: inbox.messages, unseen: inbox.unseen, uidValidity: inbox.uidValidity?.toString(), uidNext: inbox.uidNext },
          sent,
        };
      },
    );
    try {
      const login = await credentialsFor(integration, "imap", deps);
      try {
        return { report: await session(login) };
      } catch (err) {
        // As the sync: a token the server refused before its expiry (revoked early) is replaced once.
        if (!(err instanceof JobError && err.kind === "auth" && isRenewable(login))) throw err;
        return { report: await session(await credentialsFor(integration, "imap", deps, login)) };
      }
    } catch (err) {
      return { error: err };
    }
  });

  if ("report" in outcome) {
    ctx.print(values.json, { success: true, ...outcome.report }, describe(outcome.report));
    return 0;
  }
  const kind = kindOf(outcome.error);
  const reason = outcome.error instanceof JobError ? outcome.error.message : shortReason(outcome.error);
  ctx.print(values.json, { success: false, integrationId: id, kind, error: reason }, `Integration ${id}: connection failed (${kind}): ${reason}`);
  return 1;
}

function describe(report: MailboxReport): string {
  const { inbox } = report;
  const folders = report.folders.map((f) => (f.specialUse ? `${f.path} ${f.specialUse}` : f.path));
  return [
    `Integration ${report.integrationId}: connected to ${report.server}:${report.port} ` +
      `(${report.tls === "implicit" ? "implicit TLS" : "STARTTLS"}) as ${report.login}${report.authMethod === "oauth2" ? " (OAuth2)" : ""}`,
    `INBOX: ${inbox.messages === undefined ? "?" : inbox.messages} ${inbox.messages === 1 ? "message" : "messages"} (${inbox.unseen ?? "?"} unseen), UIDVALIDITY ${inbox.uidValidity ?? "?"}, next UID ${inbox.uidNext ?? "?"}`,
    `Folders (${folders.length}): ${folders.join(", ")}`,
    describeSent(report.sent),
  ].join("\n");
}

const SENT_REASONS: Record<SentChoice["reason"], string> = {
  "special-use": "marked \\Sent by the server",
  "only-candidate": "the only folder named like a Sent folder",
  remembered: "chosen on an earlier sync",
  "own-mail": "holds the mailbox's own recent mail",
  "most-mail": "none holds the mailbox's own mail: the fullest",
  "all-empty": "several folders named like Sent, all empty: none read yet",
  "none-found": "no folder marked \\Sent or named like one: the replies written outside the app are not imported",
};

function describeSent(sent: SentChoice): string {
  const seen = sent.candidates
    .filter((c) => c.messages !== undefined)
    .map((c) => `${c.path}: ${c.messages} messages${c.ownRecentMessages === undefined ? "" : `, ${c.ownRecentMessages} from the mailbox`}`);
  const chosen = sent.folders.length > 0 ? sent.folders.join(", ") : "none";
  return `Sent read by the sync: ${chosen} (${SENT_REASONS[sent.reason]})${seen.length > 0 ? `; compared: ${seen.join("; ")}` : ""}`;
}
