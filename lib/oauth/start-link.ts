// Signed links to start connecting a mailbox, for the app to hand to a business owner (who must not
// hold the cron secret): HMAC-SHA256 over the company, the provider, the expiry, a random nonce and,
// for a shared mailbox, its address (so a link cannot be edited to connect another mailbox), and the
// transport when it is Microsoft Graph (`via=graph`: a link cannot be edited to choose another one).
// A link works once (its nonce is recorded when it is used) and for minutes: a link forwarded or
// found later in a mailbox, a chat or a proxy's log opens nothing.

import { createHash, randomBytes } from "node:crypto";
import { eq, lt } from "drizzle-orm";
import type { Config } from "../config.js";
import { isSignedBy, sign } from "../crypto/hmac.js";
import type { Db } from "../db/client.js";
import { OAUTH_PROVIDERS, type OAuthProviderName, oauthStartLinkUses } from "../db/schema.js";
import { parseMailboxAddress } from "../mailbox-identity.js";
import type { ConnectTransport } from "./providers.js";
import { oauthSigningKey } from "./signing-key.js";

/** How long a link works when the app does not say: time to open it from the app's page, not from a mail read tomorrow. */
export const START_LINK_TTL_MS = 15 * 60_000;
/** The longest a link may work. */
export const MAX_START_LINK_TTL_MS = 60 * 60_000;

export interface StartLink {
  companyId: number;
  provider: OAuthProviderName;
  expiresAt: Date;
  nonce: string;
  /** The shared mailbox to connect; absent: the consenting person's own. */
  mailboxAddress?: string;
  /** Absent: IMAP and SMTP. */
  transport?: ConnectTransport;
}

/** A new link's query string (`company`, `provider`, `expires`, `nonce`, `mailbox` and `via` if any, `signature`). */
export function signStartLink(config: Config, link: Omit<StartLink, "nonce">): URLSearchParams {
  const fields: LinkFields = {
    company: String(link.companyId),
    provider: link.provider,
    expires: String(Math.floor(link.expiresAt.getTime() / 1000)),
    nonce: randomBytes(18).toString("base64url"),
    ...(link.mailboxAddress ? { mailbox: link.mailboxAddress } : {}),
    ...(link.transport && link.transport !== "imap" ? { via: link.transport } : {}),
  };
  return new URLSearchParams({ ...fields, signature: sign(oauthSigningKey(config, "oauth-start-link"), signedText(fields)) });
}

/**
 * The link `query` stands for when its signature is ours and it has not expired (nor claims to live
 * longer than the maximum); undefined otherwise. Whether it was already used is `spendStartLink`'s.
 */
export function readStartLink(config: Config, query: URLSearchParams, now: Date): StartLink | undefined {
  const [company, provider, expires, nonce, signature] = ["company", "provider", "expires", "nonce", "signature"].map((name) => query.get(name) ?? "");
  if (!/^\d{1,9}$/.test(company!) || !/^\d{1,12}$/.test(expires!) || !/^[\w-]{16,64}$/.test(nonce!) || signature!.length > 64) return undefined;
  if (!OAUTH_PROVIDERS.includes(provider as OAuthProviderName)) return undefined;
  const expiresAtMs = Number(expires) * 1000;
  if (expiresAtMs <= now.getTime() || expiresAtMs > now.getTime() + MAX_START_LINK_TTL_MS) return undefined;
  const mailboxText = query.get("mailbox");
  const mailbox = mailboxText === null ? undefined : parseMailboxAddress(mailboxText);
  if (mailboxText !== null && mailbox !== mailboxText) return undefined;
  const via = query.get("via");
  if (via !== null && via !== "graph" && via !== "gmail-api") return undefined;
  const key = oauthSigningKey(config, "oauth-start-link");
  const fields = { company: company!, provider: provider!, expires: expires!, nonce: nonce!, ...(mailbox ? { mailbox } : {}), ...(via ? { via } : {}) };
  if (!isSignedBy([key], signedText(fields), signature!)) return undefined;
  return {
    companyId: Number(company), provider: provider as OAuthProviderName, expiresAt: new Date(expiresAtMs), nonce: nonce!,
    ...(mailbox ? { mailboxAddress: mailbox } : {}),
    ...(via === "graph" || via === "gmail-api" ? { transport: via } : {}),
  };
}

/** The query string of `link` as it was signed (to post it back from the page that opens it). */
export function startLinkQuery(query: URLSearchParams): URLSearchParams {
  const names = ["company", "provider", "expires", "nonce", ...(["mailbox", "via"].filter((name) => query.has(name))), "signature"];
  return new URLSearchParams(names.map((name) => [name, query.get(name) ?? ""]));
}

/**
 * Records that `link` is being used. True the first time only: the insert of its nonce's hash is
 * the one statement that decides, so two browsers opening the same link at once get one `true`.
 */
export async function spendStartLink(db: Db, link: StartLink, now: Date): Promise<boolean> {
  // Used links are kept until they would have expired anyway; older rows are swept here.
  await db.delete(oauthStartLinkUses).where(lt(oauthStartLinkUses.expiresAt, now));
  const inserted = await db
    .insert(oauthStartLinkUses)
    .values({ nonceHash: nonceHash(link.nonce), expiresAt: link.expiresAt, usedAt: now })
    .onConflictDoNothing()
    .returning({ nonceHash: oauthStartLinkUses.nonceHash });
  return inserted.length === 1;
}

/** True when `link` was already used. */
export async function isStartLinkSpent(db: Db, link: StartLink): Promise<boolean> {
  return (await db.$count(oauthStartLinkUses, eq(oauthStartLinkUses.nonceHash, nonceHash(link.nonce)))) > 0;
}

interface LinkFields {
  company: string;
  provider: string;
  expires: string;
  nonce: string;
  mailbox?: string;
  via?: string;
}

/**
 * What the signature covers. A link for a shared mailbox signs a text of its own purpose, so no link
 * can be read as the other kind (the fields hold no `|`: digits, a provider name, a base64url nonce).
 */
function signedText(fields: LinkFields): string {
  const common = `${fields.company}|${fields.provider}|${fields.expires}|${fields.nonce}`;
  const text = fields.mailbox === undefined ? `oauth-start|${common}` : `oauth-start-shared-mailbox|${common}|${fields.mailbox}`;
  // A Graph link's text ends with a part no address or IMAP link's text can (`via:` holds no @).
  return fields.via === undefined ? text : `${text}|via:${fields.via}`;
}

function nonceHash(nonce: string): string {
  return createHash("sha256").update(nonce).digest("base64url");
}
