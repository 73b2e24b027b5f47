// The one way an endpoint reads a request's body: capped while it is read, before anyone is
// authenticated. A body over the cap is never held whole, whatever its Content-Length says (a
// chunked body says nothing): reading stops at the first byte past the cap and the answer is 413.

import { HttpError } from "../errors.js";

/** A form or a webhook's fields: a few short values. */
export const MAX_FORM_BODY_BYTES = 16 * 1024;

/**
 * The body of `req` as bytes, at most `maxBytes` of them. Throws HttpError 413 when the declared
 * Content-Length or the bytes received exceed the cap; the body stream is then cancelled, so the
 * server stops taking bytes from the client (the local server also closes the connection after its
 * answer). Throws HttpError 400 when the client breaks off mid-body.
 */
export async function readBody(req: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) {
    await req.body?.cancel().catch(() => {});
    throw tooLarge(maxBytes);
  }
  if (!req.body) return new Uint8Array(0);
  let bytes: Buffer | undefined;
  try {
    bytes = await readCapped(req.body, maxBytes);
  } catch {
    throw new HttpError(400, "Request body could not be read: the client broke off");
  }
  if (!bytes) throw tooLarge(maxBytes);
  return bytes;
}

/**
 * `stream` read whole, or undefined once it goes past `maxBytes`: reading then stops there and the
 * stream is cancelled, so nothing past the cap is held. A stream that breaks off throws its error.
 * The one capped reader of requests here and of the answers of the APIs the product calls.
 */
export async function readCapped(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Buffer | undefined> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    received += next.value.byteLength;
    if (received > maxBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks);
}

/** The body of `req` as UTF-8 text, capped as {@link readBody}. */
export async function readBodyText(req: Request, maxBytes: number): Promise<string> {
  return new TextDecoder().decode(await readBody(req, maxBytes));
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `Request body too large: at most ${maxBytes} bytes`);
}
