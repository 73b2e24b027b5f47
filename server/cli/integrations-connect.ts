// `lokario-cron integrations connect --provider google|microsoft|oidc --company ID [--mailbox ADDRESS] [--via imap|graph|gmail-api] [--paste]`:
// connects a mailbox with OAuth2 from a terminal, through the same flow as the endpoints. `--mailbox`
// names a shared mailbox that the person consenting opens with their own account; `--via graph` (or `gmail-api`)
// reads and sends it through Microsoft Graph instead of IMAP and SMTP (the scopes asked follow). It prints the
// provider's URL, then takes the redirect on a loopback listener (RFC 8252 §7.3: 127.0.0.1, a port
// chosen now, accepted by providers for desktop apps), or with --paste the redirect URL copied from
// the browser's address bar (when the browser runs on another machine than this command).

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createInterface } from "node:readline";
import { OAUTH_PROVIDERS, type OAuthProviderName } from "../../lib/db/schema.js";
import { completeAuthorization, type ConnectedMailbox } from "../../lib/oauth/complete-authorization.js";
import { parseMailboxAddress } from "../../lib/mailbox-identity.js";
import { CONNECT_TRANSPORTS, type ConnectTransport } from "../../lib/oauth/providers.js";
import { AUTHORIZATION_TTL_MS, startAuthorization } from "../../lib/oauth/start-authorization.js";
import type { Db } from "../../lib/db/client.js";
import { html } from "../../lib/http/html.js";
import { pageResponse } from "../../lib/oauth/oauth-pages.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { CliError, UsageError } from "./usage.js";

const CALLBACK_PATH = "/callback";

export async function connectIntegrationCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values } = parseCommand(args, {
    provider: { type: "string" },
    company: { type: "string" },
    mailbox: { type: "string" },
    via: { type: "string" },
    paste: { type: "boolean" },
    port: { type: "string" },
  });
  const provider = values.provider as OAuthProviderName;
  if (!OAUTH_PROVIDERS.includes(provider)) throw new UsageError(`--provider must be one of ${OAUTH_PROVIDERS.join(", ")}`);
  const companyId = parseId(values.company, "--company");
  const port = values.port === undefined ? 0 : parseId(values.port, "--port", { max: 65_535 });
  const mailboxAddress = values.mailbox === undefined ? undefined : parseMailboxAddress(values.mailbox);
  if (values.mailbox !== undefined && !mailboxAddress) throw new UsageError("--mailbox must be an email address (the shared mailbox to connect)");
  if (values.via !== undefined && !(CONNECT_TRANSPORTS as readonly string[]).includes(values.via)) {
    throw new UsageError(`--via must be one of ${CONNECT_TRANSPORTS.join(", ")}`);
  }
  const transport = (values.via ?? "imap") as ConnectTransport;

  return ctx.withDatabase("integrations connect", async ({ db }) => {
    const listener = values.paste ? undefined : await listen(port);
    try {
      const boundPort = listener ? (listener.address() as AddressInfo).port : port;
      const redirectUri = `http://127.0.0.1${boundPort ? `:${boundPort}` : ""}${CALLBACK_PATH}`;
      const start = await startAuthorization(db, ctx.config, { companyId, provider, redirectUri, mailboxAddress, transport, now: new Date() });
      const who = mailboxAddress ? `, log in with an account that has access to the shared mailbox ${mailboxAddress}` : ", log in";
      ctx.io.stderr.write(values.paste
        ? `Open this URL${who} and consent, then paste here the address the browser ends on (it may say it cannot connect):\n`
        : `Open this URL in a browser on this machine${who} and consent:\n`);
      ctx.io.stdout.write(`${start.url}\n`);
      const connected = listener ? await completeOnRedirect(listener, db, ctx) : await completeFromPaste(db, ctx);
      ctx.print(values.json, connected,
        `Integration ${connected.integrationId} ${connected.isNew ? "added" : "reconnected"} for company ${connected.companyId}: ` +
          `${connected.emailAddress} with ${provider} (OAuth2${transport === "graph" ? ", through Microsoft Graph" : transport === "gmail-api" ? ", through the Gmail API" : ""})` +
          `${connected.consentingAccount !== connected.emailAddress ? `, a shared mailbox opened with ${connected.consentingAccount}'s consent` : ""}.\nCheck it with: lokario-cron integrations test ${connected.integrationId}`);
      return 0;
    } finally {
      listener?.closeAllConnections();
      listener?.close();
    }
  });
}

function listen(port: number): Promise<Server> {
  const server = createServer();
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** Waits for the provider's redirect to reach the listener, completes, and tells the browser how it went. */
function completeOnRedirect(server: Server, db: Db, ctx: CliContext): Promise<ConnectedMailbox> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new CliError("no answer from the provider in time: run the command again")), AUTHORIZATION_TTL_MS);
    server.on("request", (req, res) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      if (url.pathname !== CALLBACK_PATH) {
        res.writeHead(404).end();
        return;
      }
      const answer = (page: Response) => page.text().then((body) => res.writeHead(page.status, Object.fromEntries(page.headers)).end(body));
      completeAuthorization(db, ctx.config, url, new Date()).then(
        async (connected) => {
          clearTimeout(timer);
          await answer(pageResponse(200, "Boîte mail connectée",
            html`<p>La boîte <strong>${connected.emailAddress}</strong> est connectée. Vous pouvez fermer cet onglet et revenir au terminal.</p>`));
          resolve(connected);
        },
        async (err: unknown) => {
          clearTimeout(timer);
          await answer(pageResponse(400, "Connexion impossible", html`<p>La boîte mail n'a pas pu être connectée : la raison est affichée dans le terminal.</p>`));
          reject(err);
        },
      );
    });
  });
}

async function completeFromPaste(db: Db, ctx: CliContext): Promise<ConnectedMailbox> {
  const lines = createInterface({ input: ctx.io.stdin });
  try {
    for await (const line of lines) {
      const text = line.trim();
      if (!text) continue;
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        throw new CliError("that is not a URL: paste the whole address the browser ended on");
      }
      return await completeAuthorization(db, ctx.config, url, new Date());
    }
  } finally {
    lines.close();
  }
  throw new CliError("no redirect URL given on standard input");
}
