// Converts between node:http and the web-standard Request/Response the endpoints speak, so the
// local server runs exactly the functions Vercel runs.

import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";

/** The web Request for an incoming node:http request. */
export function toWebRequest(req: IncomingMessage): Request {
  const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else if (value !== undefined) headers.set(name, value);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(url, {
    method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
    // Required by undici for a streamed body; the endpoints never read it anyway.
    ...(hasBody ? { duplex: "half" } : {}),
  } as RequestInit);
}

/** Writes a web Response to a node:http response. */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  res.end(Buffer.from(await response.arrayBuffer()));
}

/** The path of a request without its query string: `?secret=` must never reach a log line. */
export function pathForLog(req: IncomingMessage): string {
  return (req.url ?? "/").split("?")[0] ?? "/";
}
