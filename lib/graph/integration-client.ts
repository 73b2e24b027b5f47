// The Graph client and mailbox of one integration, as the sync, the follow-ups and the push
// subscriptions all reach it: the integration's own OAuth2 access token (refreshed under its lease,
// lib/oauth/access-token.ts), the Graph root from the configuration, and the mailbox at `/me`, or
// at `/users/{address}` when the person who consented is not the mailbox (a shared mailbox).

import { JobError } from "../errors.js";
import { delegateOf, parseMailboxAddress } from "../mailbox-identity.js";
import { type AccessTokenDeps, accessTokenFor } from "../oauth/access-token.js";
import { createGraphClient, type GraphClient, type GraphClientOptions } from "./graph-client.js";
import type { GraphMailbox } from "./mailbox-path.js";

/** What an integration row must say for Graph to reach its mailbox. */
export interface GraphIntegration {
  id: number;
  emailAddress: string | null;
  oauthConsentingAccount: string | null;
}

/** The integration's mailbox as Graph calls see it; a bad-input JobError when its address is not one. */
export function graphMailboxOf(integration: GraphIntegration): GraphMailbox {
  const address = parseMailboxAddress(integration.emailAddress);
  if (!address) throw new JobError("bad-input", `mailbox ${integration.id} has no valid address for Microsoft Graph`);
  return { address, isShared: delegateOf(integration) !== undefined };
}

/** A Graph client that calls with `integration`'s own access token. */
export function graphClientFor(
  integration: Pick<GraphIntegration, "id">,
  deps: AccessTokenDeps,
  options: Omit<GraphClientOptions, "accessToken" | "baseUrl" | "now" | "log"> = {},
): GraphClient {
  return createGraphClient({
    ...options,
    accessToken: (refused) => accessTokenFor(integration.id, deps, refused),
    baseUrl: deps.config.graph.baseUrl,
    now: deps.now,
    log: deps.log,
  });
}
