// Starts connecting a company's mailbox with OAuth2: the authorization-code flow with PKCE (RFC 7636,
// S256). The `state` sent to the provider is random and single-use; what it stands for (the company,
// the provider, the PKCE verifier, the redirect URI) stays on the server until the callback, so the
// browser carries nothing that could be altered to attach a mailbox to another company. When started
// from a browser, the row also holds the hash of that browser's binding nonce (browser-binding.ts).
// A shared mailbox to connect (shared-mailbox.ts) is recorded on the row too, for the same reason,
// and so is the transport chosen (IMAP and SMTP, Microsoft Graph or the Gmail API), which decides the scopes.

import { createHash, randomBytes } from "node:crypto";
import { eq, lt } from "drizzle-orm";
import type { Config } from "../config.js";
import { encryptSecret } from "../crypto/secret-box.js";
import type { Db } from "../db/client.js";
import { companies, oauthAuthorizationRequests, type OAuthProviderName } from "../db/schema.js";
import { JobError } from "../errors.js";
import { type ConnectTransport, oauthProvider, parseConnectTransport, scopesFor } from "./providers.js";

/** How long a person has to log in and consent at the provider. */
export const AUTHORIZATION_TTL_MS = 10 * 60_000;

export interface AuthorizationStart {
  /** Where to send the person: the provider's login and consent page. */
  url: string;
  expiresAt: Date;
}

/** Records a new authorization for `companyId` and returns the provider URL to open. */
export async function startAuthorization(
  db: Db,
  config: Config,
  request: {
    companyId: number;
    provider: OAuthProviderName;
    redirectUri: string;
    now: Date;
    /** The starting browser's binding (`BrowserBinding.hash`); absent for the CLI, which takes the redirect itself. */
    browserBindingHash?: string;
    /** The shared mailbox to connect (`parseMailboxAddress`'d); absent: the consenting person's own. */
    mailboxAddress?: string;
    /** How the mailbox will be read and sent (`parseConnectTransport`'d); absent: IMAP and SMTP. */
    transport?: ConnectTransport;
  },
): Promise<AuthorizationStart> {
  const provider = oauthProvider(config, request.provider);
  // Checked here, where every way in (the CLI, the endpoint, a signed link) passes.
  const transport = parseConnectTransport(provider, request.transport);
  // The Gmail API reads the consenting account's own mailbox (`me`): Gmail has no shared mailbox an OAuth client may open.
  if (transport === "gmail-api" && request.mailboxAddress !== undefined) throw new JobError("bad-input", "a shared mailbox cannot be connected through the Gmail API");
  const [company] = await db.select({ id: companies.id }).from(companies).where(eq(companies.id, request.companyId));
  if (!company) throw new JobError("bad-input", `company ${request.companyId} does not exist`);
  const endpoints = await provider.endpoints();
  const verifier = randomBytes(32).toString("base64url");
  const state = randomBytes(32).toString("base64url");
  const expiresAt = new Date(request.now.getTime() + AUTHORIZATION_TTL_MS);
  // Abandoned attempts are swept here rather than by a job of their own: they are few and tiny.
  await db.delete(oauthAuthorizationRequests).where(lt(oauthAuthorizationRequests.expiresAt, request.now));
  await db.insert(oauthAuthorizationRequests).values({
    stateHash: stateHash(state),
    companyId: request.companyId,
    provider: request.provider,
    codeVerifier: encryptSecret(verifier, { encryptionKey: config.encryptionKey }),
    redirectUri: request.redirectUri,
    expiresAt,
    browserBindingHash: request.browserBindingHash ?? null,
    mailboxAddress: request.mailboxAddress ?? null,
    mailTransport: transport,
  });
  const url = new URL(endpoints.authorization);
  const params: Record<string, string> = {
    response_type: "code",
    client_id: provider.clientId,
    redirect_uri: request.redirectUri,
    scope: scopesFor(provider, transport, request.mailboxAddress !== undefined).join(" "),
    state,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"),
    code_challenge_method: "S256",
    ...provider.authorizationParams,
  };
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return { url: url.href, expiresAt };
}

/** What is stored for a state: its SHA-256, so the table alone cannot complete anyone's authorization. */
export function stateHash(state: string): string {
  return createHash("sha256").update(state).digest("base64url");
}
