// Converts between node:http and the web-standard Request/Response the endpoints speak, so the
// local server runs exactly the functions Vercel runs. Whatever a client sends that cannot become a
// web Request is answered here with a 4xx, never left to fail as a 500.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { Readable } from "node:stream";
import { HttpError } from "../lib/errors.js";

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
  try {
    const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
    return new Request(url, {
      method,
      headers,
      body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
      // Required by undici for a streamed body; the endpoints never read it anyway.
      ...(hasBody ? { duplex: "half" } : {}),
    } as RequestInit);
  } catch {
    // Only the client's Host header or target can make these throw: their shape is its own doing.
    throw new HttpError(400, "Bad request: malformed Host header or request target");
  }
}

/** Writes a web Response to a node:http response. */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
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
