// The Gmail API client of one integration, as the sync and the follow-ups reach it: the
// integration's own OAuth2 access token (refreshed under its lease, lib/oauth/access-token.ts), the
// API's address from the configuration (Google's unless a test names its own), the mailbox at `me`
// (the account that consented: Gmail has no delegated mailboxes for an OAuth client).

import { type AccessTokenDeps, accessTokenFor } from "../oauth/access-token.js";
import { createGmailClient, type GmailClient, type GmailClientOptions } from "./gmail-client.js";

/** A Gmail client that calls with the integration `integration.id`'s own access token. */
export function gmailClientFor(
  integration: { id: number },
  deps: AccessTokenDeps,
  options: Omit<GmailClientOptions, "accessToken" | "baseUrl" | "now" | "log"> = {},
): GmailClient {
  return createGmailClient({
    ...options,
    accessToken: (refused) => accessTokenFor(integration.id, deps, refused),
    ...(deps.config.gmail.apiBaseUrl ? { baseUrl: deps.config.gmail.apiBaseUrl } : {}),
    now: deps.now,
    log: deps.log,
  });
}
