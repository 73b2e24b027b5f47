// SMTP discovery with its answers remembered per mail domain in the database, so that a fleet of
// companies on one domain, and every hourly follow-up run, ask the network once: a found server for
// a week, "nothing found" for a day (the domain's owner may publish a record in the meantime).

import { eq, sql } from "drizzle-orm";
import type { SmtpDiscoveryOptions } from "../config.js";
import type { Db } from "../db/client.js";
import { smtpDiscoveryResults } from "../db/schema.js";
import { type DiscoveredSmtp, discoverSmtp } from "./discover-smtp.js";
import { knownProviderSmtp } from "./known-providers.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** How long a found server is trusted before it is looked up again. */
export const FOUND_TTL_MS = 7 * DAY_MS;
/** How long "nothing found" is trusted: a domain may publish its records later. */
export const NOT_FOUND_TTL_MS = DAY_MS;

/** `discoverSmtp`, answered from the last lookup of the same domain while it is fresh. Never throws. */
export async function discoverSmtpRemembered(
  db: Db,
  mailbox: { emailAddress: string; imapServer?: string | null },
  options: SmtpDiscoveryOptions,
  now: Date,
): Promise<DiscoveredSmtp | undefined> {
  // The built-in table costs nothing to read again.
  if (knownProviderSmtp(mailbox)) return discoverSmtp(mailbox, options);
  const domain = mailbox.emailAddress.trim().toLowerCase().split("@").pop() ?? "";
  const [remembered] = await db.select().from(smtpDiscoveryResults).where(eq(smtpDiscoveryResults.domain, domain)).catch(() => []);
  if (remembered) {
    const ageMs = now.getTime() - remembered.checkedAt.getTime();
    const isFound = remembered.host !== null && remembered.port !== null;
    if (ageMs >= 0 && ageMs < (isFound ? FOUND_TTL_MS : NOT_FOUND_TTL_MS)) {
      return isFound
        ? { host: remembered.host!, port: remembered.port!, isSecure: remembered.isSecure ?? remembered.port === 465, source: remembered.source ?? "remembered" }
        : undefined;
    }
  }
  const found = await discoverSmtp(mailbox, options);
  const row = { host: found?.host ?? null, port: found?.port ?? null, isSecure: found?.isSecure ?? null, source: found?.source ?? null, checkedAt: now };
  // A cache: failing to write it only means asking again next time.
  await db
    .insert(smtpDiscoveryResults)
    .values({ domain, ...row })
    .onConflictDoUpdate({ target: smtpDiscoveryResults.domain, set: { ...row, checkedAt: sql`excluded.checked_at` } })
    .catch(() => {});
  return found;
}
