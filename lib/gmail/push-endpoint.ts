// The core of the Gmail push endpoint, as a web-standard (Request) => Response: Pub/Sub POSTs
// Gmail's notification there, with an OIDC token. The body is read capped, the token checked
// (`verify-push-token.ts`), the notification read, and the named mailbox made due now through
// `markDue`; polling stays the safety net for anything lost. Answers follow Pub/Sub's rules: a 2xx
// acknowledges the message; anything else has it redelivered with back-off, which is wanted when
// our side failed (503) and harmless for a refused caller.

import { HttpError } from "../errors.js";
import { readBodyText } from "../http/read-body.js";
import { type Logger, silentLogger } from "../log.js";
import { readPushNotification } from "./read-push-notification.js";
import { GOOGLE_ISSUERS, GOOGLE_JWKS_URL, googleSigningKeys, verifyPushToken } from "./verify-push-token.js";

/** How the deployment's push subscription is set (lib/config.ts `gmail.push`). */
export interface GmailPushSettings {
  /** The subscription's audience: the endpoint's public URL. */
  audience: string;
  /** The subscription's service account. */
  serviceAccountEmail?: string;
  /** Tests only: where the signing keys are, and who issues the tokens. */
  jwksUrl?: string;
  issuers?: readonly string[];
}

export interface GmailPushDeps {
  push: GmailPushSettings;
  /** Makes the mailbox with this address due now; `historyId` is where Gmail's history stood. */
  markDue(emailAddress: string, historyId: string): Promise<void>;
  now?: () => Date;
  log?: Logger;
}

/** Gmail's notification is ~150 bytes in an envelope of ~400: this leaves room and no more. */
export const MAX_PUSH_BODY_BYTES = 16 * 1024;

export function gmailPushHandler(deps: GmailPushDeps): (req: Request) => Promise<Response> {
  const log = (deps.log ?? silentLogger).with({ endpoint: "gmail-push" });
  const policy = {
    audience: deps.push.audience,
    serviceAccountEmail: deps.push.serviceAccountEmail,
    issuers: deps.push.issuers ?? GOOGLE_ISSUERS,
    keys: googleSigningKeys(deps.push.jwksUrl ?? GOOGLE_JWKS_URL),
    now: deps.now ?? (() => new Date()),
  };
  return async (req) => {
    try {
      if (req.method !== "POST") throw new HttpError(405, "Method not allowed", { allow: "POST" });
      const body = await readBodyText(req, MAX_PUSH_BODY_BYTES);
      const check = await verifyPushToken(req.headers.get("authorization"), policy);
      if (!check.isValid) {
        log.warn("gmail push refused", { status: check.status, reason: check.reason });
        throw new HttpError(check.status, check.status === 401 ? "Unauthorized" : "Forbidden", { "www-authenticate": 'Bearer error="invalid_token"' });
      }
      const notification = readPushNotification(body);
      if (!notification) throw new HttpError(400, "Not a Gmail notification in a Pub/Sub push envelope");
      await deps.markDue(notification.emailAddress, notification.historyId);
      return new Response(null, { status: 204 });
    } catch (err) {
      if (err instanceof HttpError) return err.toResponse();
      // Google's keys out of reach, the database down: say nothing more, Pub/Sub will try again.
      log.error("gmail push failed", { reason: err instanceof Error ? err.message : String(err) });
      return new HttpError(503, "Temporarily unavailable").toResponse();
    }
  };
}
