// Converts between node:http and the web-standard Request/Response the endpoints speak, so the
// local server runs exactly the functions Vercel runs. Whatever a client sends that cannot become a
// web Request is answered here with a 4xx, never left to fail as a 500. A body is never read here:
// the endpoint pulls it, chunk by chunk, through its capped reader (lib/http/read-body.ts).

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { HttpError } from "../lib/errors.js";
import { rememberSocketAddress } from "../lib/http/client-address.js";

/**
 * Methods node:http parses but the Fetch standard's Request refuses to carry ("forbidden methods"):
 * no endpoint accepts them, so they get the endpoint's 405 without reaching it.
 */
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);

/**
 * The web Request for an incoming node:http request. Throws an HttpError (405 with `allow`, or 400)
 * for a request the Fetch standard cannot represent: a forbidden method, a Host header that is no
 * valid authority (`a b`, `[::1`, `x:99999`, `user@host`), a target with credentials.
 */
export function toWebRequest(req: IncomingMessage, allowedMethods: readonly string[]): Request {
  const method = req.method ?? "GET";
  if (FORBIDDEN_METHODS.has(method.toUpperCase())) {
    throw new HttpError(405, `Method ${method} not allowed: use ${allowedMethods.join(" or ")}`, { allow: allowedMethods.join(", ") });
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.set(name, value);
  }
  const hasBody = method !== "GET" && method !== "HEAD";
  let request: Request;
  try {
    const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
    request = new Request(url, {
      method,
      headers,
      body: hasBody ? bodyStreamOf(req) : undefined,
      // Required by undici for a streamed body.
      ...(hasBody ? { duplex: "half" } : {}),
    } as RequestInit);
  } catch {
    // Only the client's Host header or target can make these throw: their shape is its own doing.
    throw new HttpError(400, "Bad request: malformed Host header or request target");
  }
  rememberSocketAddress(request, req.socket.remoteAddress);
  return request;
}

/**
 * The request's body as a web stream that reads from the socket only when the endpoint asks for the
 * next chunk (`highWaterMark` 0: nothing is read ahead). Node's `Readable.toWeb` would not do: it
 * starts reading at once, whether or not anyone wants the body, and its `cancel` destroys the
 * socket before the 413 can be written. Once a reader stops (or never starts), the request stays
 * paused: node:http stops reading the socket when its small buffer is full, TCP makes the client
 * wait, and `sendWebResponse` closes the connection after the answer.
 */
function bodyStreamOf(req: IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      pull: (controller) =>
        new Promise<void>((resolve) => {
          const stop = () => {
            req.off("readable", attempt).off("end", attempt).off("close", attempt).off("error", fail);
            resolve();
          };
          const fail = (err: Error) => {
            stop();
            controller.error(err);
          };
          function attempt() {
            const chunk = req.read() as Buffer | null;
            if (chunk !== null) {
              stop();
              controller.enqueue(new Uint8Array(chunk)); // a copy: the parser's buffer may be pooled
            } else if (req.readableEnded) {
              stop();
              controller.close();
            } else if (req.destroyed) {
              fail(new Error("the client closed the connection before the end of the body"));
            }
          }
          req.on("readable", attempt).on("end", attempt).on("close", attempt).on("error", fail);
          attempt();
        }),
    },
    { highWaterMark: 0 },
  );
}

/**
 * Writes a web Response to a node:http response. When the request's body was not received whole
 * (refused over its cap, or never read by an endpoint that takes none), the connection is closed
 * after the answer: keeping it would mean reading, or leaving unread, whatever the client still sends.
 */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  if (!res.req.complete) headers.connection = "close";
  // Headers.forEach joins several Set-Cookie values with a comma, which no browser reads back as
  // two cookies: each one is written as its own header line.
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  res.writeHead(response.status, headers);
  res.end(Buffer.from(await response.arrayBuffer()));
}

/**
 * The path a request is routed and logged by, without its query string (`?secret=` must never reach
 * a log line). An absolute-form target (`GET http://host/path`, which RFC 9112 §3.2.2 requires a
 * server to accept) gives its path, never its authority, which may hold credentials.
 */
export function pathForLog(req: IncomingMessage): string {
  const target = req.url ?? "/";
  if (/^https?:\/\//i.test(target)) {
    try {
      return new URL(target).pathname;
    } catch {
      return "(malformed absolute target)";
    }
  }
  return target.split("?")[0] ?? "/";
}

/** Answers a CONNECT (a proxy tunnel request, which node:http hands over as a bare socket) with 405. */
export function refuseTunnel(socket: Duplex): void {
  const body = JSON.stringify({ success: false, error: "Method CONNECT not allowed: this server is no proxy" });
  socket.on("error", () => {}); // the client may be gone already
  socket.end(
    "HTTP/1.1 405 Method Not Allowed\r\n" +
      "content-type: application/json\r\ncache-control: no-store\r\nconnection: close\r\n" +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
