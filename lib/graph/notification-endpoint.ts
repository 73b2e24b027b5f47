// The endpoint Graph calls (notificationUrl and lifecycleNotificationUrl may be this same URL), as
// a web-standard (Request) => Response handler; its route, secret and platform adapters are wired
// elsewhere. Its rules ("Receive change notifications through webhooks"):
// - validation: a POST with `validationToken` in the query is answered 200 text/plain with the
//   token decoded, within 10 s, before anything else (no body is read, nothing is looked up);
// - a notification counts only if its clientState matches the stored hash of its subscription
//   (compared in constant time). A POST whose only notices carry a wrong clientState is refused
//   (403) and does nothing; notices for subscriptions the product does not hold are dropped with a
//   202, so Graph stops sending them;
// - accepted notices go to the callbacks, which must be quick (mark the mailbox due; the sync does
//   the work): Graph wants its 2xx within 3 s, and resends for 4 hours on a 5xx, which a failing
//   callback yields so that nothing is lost.

import { HttpError } from "../errors.js";
import { readBodyText } from "../http/read-body.js";
import { type Logger, silentLogger } from "../log.js";
import { isClientStateValid } from "./client-state.js";
import { type ChangeNotice, type LifecycleNotice, parseNotifications } from "./parse-notifications.js";

/** Graph batches notifications of one POST; a few hundred bytes each. */
export const MAX_NOTIFICATION_BODY_BYTES = 256 * 1024;
/** Graph's validation tokens are short opaque strings; a longer one is not Graph's. */
const MAX_VALIDATION_TOKEN_LENGTH = 4096;

export interface NotificationEndpointDeps {
  /** The stored clientState hash of subscription `subscriptionId`, or undefined when the product holds none. */
  clientStateHashOf(subscriptionId: string): Promise<string | undefined>;
  /** A message was created in a subscribed folder. */
  onChange(notice: ChangeNotice): Promise<void>;
  /** Graph asks for a renewal, says it removed the subscription, or that it missed notifications. */
  onLifecycle(notice: LifecycleNotice): Promise<void>;
  log?: Logger;
}

/** The handler for Graph's POSTs to the notification URL. */
export function graphNotificationEndpoint(deps: NotificationEndpointDeps): (request: Request) => Promise<Response> {
  const log = deps.log ?? silentLogger;
  return async (request) => {
    if (request.method !== "POST") return text(405, "Method not allowed: Microsoft Graph POSTs here", { allow: "POST" });
    const validationToken = new URL(request.url).searchParams.get("validationToken");
    if (validationToken !== null) {
      await request.body?.cancel().catch(() => {});
      if (validationToken.length === 0 || validationToken.length > MAX_VALIDATION_TOKEN_LENGTH) return text(400, "Bad validation token");
      return text(200, validationToken);
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBodyText(request, MAX_NOTIFICATION_BODY_BYTES));
    } catch (err) {
      if (err instanceof HttpError) return err.toResponse();
      return text(400, "Bad request: the body is not JSON");
    }
    const { notices, unusable } = parseNotifications(body);
    const accepted: typeof notices = [];
    let forged = 0;
    let unknown = 0;
    for (const notice of notices) {
      const storedHash = await deps.clientStateHashOf(notice.subscriptionId);
      if (storedHash === undefined) unknown++;
      else if (isClientStateValid(notice.clientState, storedHash)) accepted.push(notice);
      else forged++;
    }
    if (forged > 0) log.warn("graph notifications with a wrong clientState dropped", { forged, accepted: accepted.length });
    if (accepted.length === 0 && (forged > 0 || unusable > 0)) {
      return forged > 0 ? text(403, "Forbidden") : text(400, "Bad request: no usable notification");
    }
    try {
      for (const notice of accepted) {
        if (notice.kind === "change") await deps.onChange(notice);
        else await deps.onLifecycle(notice);
      }
    } catch (err) {
      log.error("graph notification not recorded", { error: err instanceof Error ? err.message : String(err) });
      return text(500, "Internal error");
    }
    if (unknown > 0) log.info("graph notifications for unknown subscriptions dropped", { unknown });
    return new Response(null, { status: 202, headers: { "cache-control": "no-store" } });
  };
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", "cache-control": "no-store", ...headers },
  });
}
