// The route Pub/Sub pushes Gmail's notifications to (POST /api/inbox/gmail/push, the push
// subscription's endpoint, its URL the token's audience). Its rules, in order (lib/gmail/push-endpoint.ts):
// - the body is read capped, then the OIDC token checked (Google's signature, issuer, audience, the
//   subscription's service account): anything else is refused (401/403) before the database is opened;
// - the address Gmail names counts only when it is an active Gmail-API mailbox the product watches
//   (lib/gmail/push-watch-rows.ts): that mailbox is made due now and the push recorded; any other
//   address is acknowledged (2xx, so Pub/Sub stops sending it) and does nothing;
// - the answer goes out at once, then the mailbox is synced under the cron's lease, kept alive by
//   the platform's waitUntil (after-response.ts), as for Graph's notices.

import { type Db, openDb } from "../db/client.js";
import { DatabaseUnavailableError, HttpError, shortReason } from "../errors.js";
import { gmailPushHandler } from "../gmail/push-endpoint.js";
import { markWatchedMailboxesDue } from "../gmail/push-watch-rows.js";
import { type EndpointContext, type EndpointOptions, type GuardedEndpoint, guardedEndpoint } from "../http/endpoint.js";
import { invocationLimitMs } from "../jobs/budget.js";
import { keepAfterResponse, type PlatformContext } from "./after-response.js";
import { syncOneMailbox } from "./sync-one-mailbox.js";

export const GMAIL_PUSH_PATH = "/api/inbox/gmail/push";

/** The function's `maxDuration` on Vercel: the one-mailbox sync after the answer runs within it. */
export const GMAIL_PUSH_MAX_DURATION_S = 60;

/** The endpoint; a platform may pass its context (Netlify's, with `waitUntil`) as the second argument. */
export function gmailPushEndpoint(options: EndpointOptions = {}): GuardedEndpoint {
  const handler = (req: Request, platform?: PlatformContext): Promise<Response> =>
    guardedEndpoint("gmail-push", ["POST"], options, (request, ctx) => answer(request, ctx, options, platform))(req);
  return Object.assign(handler, { methods: ["POST"] as const });
}

async function answer(req: Request, ctx: EndpointContext, options: EndpointOptions, platform: PlatformContext | undefined): Promise<Response> {
  const push = ctx.config.gmail.push;
  // Without GMAIL_PUSH_AUDIENCE no token can be checked: nothing is accepted.
  if (!push) throw new HttpError(404, "Gmail push is not configured here");
  const now = options.now ?? (() => new Date());
  let opened: { db: Db; close(): Promise<void> } | undefined;
  const due = new Set<number>();
  let response: Response;
  try {
    response = await gmailPushHandler({
      push,
      now,
      log: ctx.log,
      markDue: async (emailAddress) => {
        let db = options.db;
        if (!db) {
          opened ??= await openDb(ctx.config.database).catch((err: unknown) => {
            throw new DatabaseUnavailableError(err);
          });
          db = opened.db;
        }
        for (const id of await markWatchedMailboxesDue(db, emailAddress, now())) due.add(id);
      },
    })(req);
  } finally {
    await opened?.close();
  }
  if (due.size > 0) {
    const invocation = { startedAtMs: ctx.startedAtMs, limitMs: invocationLimitMs(ctx.config.platform, "request", GMAIL_PUSH_MAX_DURATION_S) };
    const work = Promise.all([...due].map((id) => syncOneMailbox(id, { config: ctx.config, log: ctx.log, now, db: options.db, invocation })))
      .then(() => undefined)
      .catch((err: unknown) => ctx.log.warn("work after a gmail push failed", { reason: shortReason(err) }));
    keepAfterResponse(work, platform);
  }
  return response;
}
