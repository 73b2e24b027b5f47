// A message's raw MIME ("Get MIME content of a message": GET /messages/{id}/$value), streamed: the
// caller reads it chunk by chunk into the same parser and dedupe as an IMAP fetch, and a message
// over the size guard is refused as soon as its bytes pass the guard, never held whole.
// Not batched: JSON batching ($batch) would carry each MIME base64-encoded inside one JSON answer
// (held whole, a third bigger), each inner request still counts against the 4 concurrent requests
// and the 10,000 per 10 minutes of the mailbox ("Outlook service limits for JSON batching"), and a
// throttled item must be sent again alone: it saves round trips and costs memory and simplicity.

import type { CallOptions, GraphClient } from "./graph-client.js";
import { GraphError, graphErrorOf } from "./graph-error.js";
import { type GraphMailbox, mailboxPath } from "./mailbox-path.js";

export type MimeDownload =
  /** The message's MIME; read it to the end or cancel it (its mailbox slot is held until then). */
  | { kind: "mime"; stream: ReadableStream<Uint8Array>; declaredBytes?: number }
  /** Deleted or moved since the delta listed it (404): nothing to import. */
  | { kind: "gone" };

export interface FetchMimeOptions extends CallOptions {
  /** The size guard: a longer message fails with a `permanent` GraphError (quarantine it). */
  maxBytes?: number;
}

/** Streams the MIME of message `messageId` of `mailbox`. */
export async function fetchMime(client: GraphClient, mailbox: GraphMailbox, messageId: string, options: FetchMimeOptions = {}): Promise<MimeDownload> {
  const what = "download of a message's MIME";
  const response = await client.send(mailbox, {
    what,
    path: `${mailboxPath(mailbox)}/messages/${encodeURIComponent(messageId)}/$value`,
  }, options);
  if (response.status === 404) {
    await response.body?.cancel();
    return { kind: "gone" };
  }
  if (!response.ok || !response.body) throw await graphErrorOf(response, what);
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  const declaredBytes = Number.isFinite(declared) ? declared : undefined;
  const { maxBytes } = options;
  if (maxBytes !== undefined && declaredBytes !== undefined && declaredBytes > maxBytes) {
    await response.body.cancel();
    throw tooLarge(maxBytes);
  }
  const stream = maxBytes === undefined ? response.body : response.body.pipeThrough(sizeGuard(maxBytes));
  return { kind: "mime", stream, ...(declaredBytes !== undefined ? { declaredBytes } : {}) };
}

/** Passes bytes through until more than `maxBytes` went by, then fails the stream (cancelling the download). */
function sizeGuard(maxBytes: number): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > maxBytes) controller.error(tooLarge(maxBytes));
      else controller.enqueue(chunk);
    },
  });
}

function tooLarge(maxBytes: number): GraphError {
  return new GraphError("permanent", `message over the size guard (${maxBytes} bytes)`, { mayHaveReachedServer: true });
}
