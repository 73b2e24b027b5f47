// Sends one message through Microsoft Graph in MIME format ("user: sendMail", Example 4: the MIME
// base64-encoded as a text/plain body). Graph saves the copy in Sent Items itself: the MIME form
// takes no saveToSentItems parameter, and the JSON one defaults to true. A shared mailbox sends at
// /users/{address}/sendMail under Mail.Send.Shared, so the follow-up leaves from its address.
// The result is what the follow-up channel needs for its exactly-once rules: `accepted` (202),
// `refused` (nothing was sent: it may be retried with the same message), or `uncertain` (the
// request may have reached Graph and no answer says what became of it: do not send it again blind).

import { type ErrorKind, JobError, shortReason } from "../errors.js";
import type { CallOptions, GraphClient } from "./graph-client.js";
import { GraphError, graphErrorOf } from "./graph-error.js";
import { type GraphMailbox, mailboxPath } from "./mailbox-path.js";

/**
 * Graph refuses request bodies over about 4 MB with 413 ("Microsoft Graph error responses"; the
 * limit behind the 3 MB inline attachment rule of "Attach large files to Outlook messages"). The
 * base64 body must stay under it; a follow-up is a few kilobytes of text.
 */
export const MAX_SEND_BODY_BYTES = 4_000_000;

export type SendMailResult =
  | { outcome: "accepted" }
  | { outcome: "refused"; kind: ErrorKind; reason: string; status?: number; retryAfterMs?: number; codes?: string[] }
  | { outcome: "uncertain"; reason: string };

/** Sends `mime` (the whole message, headers included) from `mailbox`. Never throws. */
export async function sendMail(client: GraphClient, mailbox: GraphMailbox, mime: Uint8Array | string, options: CallOptions = {}): Promise<SendMailResult> {
  const what = "sendMail";
  const body = Buffer.from(mime).toString("base64");
  if (body.length > MAX_SEND_BODY_BYTES) {
    return { outcome: "refused", kind: "permanent", reason: `message too large for Microsoft Graph sendMail (${body.length} bytes encoded, at most ${MAX_SEND_BODY_BYTES})` };
  }
  let response: Response;
  try {
    response = await client.send(mailbox, {
      method: "POST",
      what,
      path: `${mailboxPath(mailbox)}/sendMail`,
      headers: { "content-type": "text/plain" },
      body,
    }, options);
  } catch (err) {
    if (err instanceof GraphError) {
      return err.mayHaveReachedServer
        ? { outcome: "uncertain", reason: shortReason(err) }
        : { outcome: "refused", kind: err.kind, reason: shortReason(err), ...(err.status ? { status: err.status } : {}), ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}), codes: err.codes };
    }
    // The token could not be had (a refused grant, the provider down): nothing left this machine.
    if (err instanceof JobError) return { outcome: "refused", kind: err.kind, reason: shortReason(err) };
    return { outcome: "uncertain", reason: shortReason(err) };
  }
  if (response.ok) {
    await response.body?.cancel();
    return { outcome: "accepted" };
  }
  const error = await graphErrorOf(response, what);
  // A 5xx (a 503 without Retry-After included: a throttled 503 was retried) may have sent it.
  if (error.mayHaveReachedServer) return { outcome: "uncertain", reason: shortReason(error) };
  return { outcome: "refused", kind: error.kind, reason: shortReason(error), status: response.status, codes: error.codes };
}
