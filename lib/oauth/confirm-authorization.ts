// The step between the provider's redirect and saving a mailbox, for a browser: what the provider
// granted waits (encrypted) on the authorization's row while the person reads which company, which
// address and (for a shared mailbox) which consenting account are about to be connected, and is saved only when they confirm. A consent given
// with the wrong account, or on a link someone else sent, then ends here with nothing saved.

import { and, eq, isNotNull, lt } from "drizzle-orm";
import type { Config } from "../config.js";
import { decryptSecret, encryptSecret } from "../crypto/secret-box.js";
import type { Db } from "../db/client.js";
import { companies, oauthAuthorizationRequests } from "../db/schema.js";
import { type ConnectedMailbox, connectMailbox } from "./complete-authorization.js";
import { AuthorizationRefusedError, type RedeemedAuthorization } from "./redeem-authorization.js";

/** How long the person has to confirm. */
export const CONFIRMATION_TTL_MS = 10 * 60_000;

/** Keeps `redeemed` on its authorization's row until confirmed or `CONFIRMATION_TTL_MS` has passed. */
export async function holdForConfirmation(db: Db, config: Config, redeemed: RedeemedAuthorization, now: Date): Promise<void> {
  const grant = JSON.stringify({ ...redeemed.grant, accessTokenExpiresAt: redeemed.grant.accessTokenExpiresAt.toISOString() });
  await db
    .update(oauthAuthorizationRequests)
    .set({
      emailAddress: redeemed.consentingAccount,
      pendingTokens: encryptSecret(grant, { encryptionKey: config.encryptionKey }),
      expiresAt: new Date(now.getTime() + CONFIRMATION_TTL_MS),
    })
    .where(eq(oauthAuthorizationRequests.stateHash, redeemed.stateHash));
}

/**
 * Saves the mailbox waiting for the browser bound by `browserBindingHash`. The row is deleted as it
 * is read, so a double submission saves once; the second gets a `used` refusal.
 */
export async function confirmAuthorization(
  db: Db,
  config: Config,
  browserBindingHash: string,
  now: Date,
): Promise<ConnectedMailbox & { companyName: string }> {
  const t = oauthAuthorizationRequests;
  // One transaction: if saving fails (the address is already connected elsewhere…), the grant
  // still waits and the person can try again, rather than consent once more.
  return db.transaction(async (tx) => {
    const [pending] = await tx
      .delete(t)
      .where(and(eq(t.browserBindingHash, browserBindingHash), isNotNull(t.pendingTokens)))
      .returning();
    if (!pending?.pendingTokens || !pending.emailAddress) {
      throw new AuthorizationRefusedError("used", "no mailbox is waiting for confirmation in this browser: start connecting it again");
    }
    if (pending.expiresAt.getTime() <= now.getTime()) {
      throw new AuthorizationRefusedError("expired", "the confirmation came too late: start connecting the mailbox again");
    }
    const grant = JSON.parse(decryptSecret(pending.pendingTokens, { encryptionKey: config.encryptionKey })) as {
      refreshToken: string;
      accessToken: string;
      accessTokenExpiresAt: string;
    };
    const connected = await connectMailbox(tx, config, {
      companyId: pending.companyId,
      provider: pending.provider,
      emailAddress: pending.mailboxAddress ?? pending.emailAddress,
      consentingAccount: pending.emailAddress,
      transport: pending.mailTransport ?? "imap",
      grant: { ...grant, accessTokenExpiresAt: new Date(grant.accessTokenExpiresAt) },
      now,
    });
    const [company] = await tx.select({ name: companies.name }).from(companies).where(eq(companies.id, pending.companyId));
    return { ...connected, companyName: company?.name ?? "" };
  });
}

/** Drops what waits for this browser (the person said no); true when something was waiting. */
export async function cancelAuthorization(db: Db, browserBindingHash: string, now: Date): Promise<boolean> {
  const t = oauthAuthorizationRequests;
  // Expired leftovers (tokens nobody confirmed) are swept at the same time.
  await db.delete(t).where(lt(t.expiresAt, now));
  const deleted = await db.delete(t).where(eq(t.browserBindingHash, browserBindingHash)).returning({ stateHash: t.stateHash });
  return deleted.length > 0;
}
