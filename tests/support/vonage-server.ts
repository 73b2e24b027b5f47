// A local stand-in for Vonage's SMS API, following its documented formats (developer.vonage.com,
// "SMS API reference": POST /sms/json with api_key/api_secret — in the body, the query or HTTP Basic
// auth as the SDK sends them — from, to, text, type=unicode when needed, client-ref; the answer
// {"message-count": "1", "messages": [{"to", "message-id", "status": "0", "remaining-balance",
// "message-price", "network", "client-ref"}]}, one message per 160/153 GSM or 70/67 UCS-2 segment;
// a non-zero status per message for errors, e.g. "1" throttled, "4" invalid credentials).
// The only part of the product's tests that cannot run against the real peer here.

import { createServer, type IncomingMessage, type Server } from "node:http";
import { smsLength } from "../../lib/sms/segments.js";
import { freePort } from "./ports.js";

export interface VonageRequest {
  from: string;
  to: string;
  text: string;
  type?: string;
  clientRef?: string;
  messageIds: string[];
}

export interface TestVonageServer {
  url: string;
  apiKey: string;
  apiSecret: string;
  requests: VonageRequest[];
  /** Statuses for the next requests ("1" = throttled…), then "0" again. */
  queueStatuses(...statuses: string[]): void;
  close(): Promise<void>;
}

export async function startVonageServer(): Promise<TestVonageServer> {
  const port = await freePort();
  const apiKey = "abcd1234";
  const apiSecret = "vonage-secret-1";
  const requests: VonageRequest[] = [];
  const statuses: string[] = [];
  let next = 0;
  const server: Server = createServer(async (req, res) => {
    const fields = await fieldsOf(req);
    const [basicKey, basicSecret] = basicAuthOf(req);
    const key = fields.api_key ?? basicKey;
    const secret = fields.api_secret ?? basicSecret;
    res.setHeader("content-type", "application/json");
    if (req.method !== "POST" || !req.url?.startsWith("/sms/json")) {
      res.statusCode = 404;
      return res.end("{}");
    }
    if (key !== apiKey || secret !== apiSecret) {
      return res.end(JSON.stringify({ "message-count": "1", messages: [{ status: "4", "error-text": "Bad Credentials" }] }));
    }
    const status = statuses.shift() ?? "0";
    if (status !== "0") {
      return res.end(JSON.stringify({ "message-count": "1", messages: [{ status, "error-text": status === "1" ? "Throughput Rate Exceeded - please wait [ 1000 ] and retry" : "Error" }] }));
    }
    const text = fields.text ?? "";
    const parts = smsLength(text).segments;
    const messageIds = Array.from({ length: parts }, () => `0A0000000${(next++).toString(16).padStart(7, "0")}`);
    requests.push({ from: fields.from ?? "", to: fields.to ?? "", text, type: fields.type, clientRef: fields["client-ref"], messageIds });
    res.end(JSON.stringify({
      "message-count": String(parts),
      messages: messageIds.map((id) => ({
        to: fields.to, "message-id": id, status: "0", "remaining-balance": "3.14159265", "message-price": "0.03330000", network: "20801", "client-ref": fields["client-ref"],
      })),
    }));
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    apiKey,
    apiSecret,
    requests,
    queueStatuses: (...list) => statuses.push(...list),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function fieldsOf(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString("utf8");
  const fields: Record<string, string> = Object.fromEntries(new URL(req.url ?? "/", "http://x").searchParams);
  if ((req.headers["content-type"] ?? "").includes("application/json")) {
    for (const [k, v] of Object.entries(JSON.parse(body || "{}") as Record<string, unknown>)) fields[k] = String(v);
  } else {
    for (const [k, v] of new URLSearchParams(body)) fields[k] = v;
  }
  return fields;
}

function basicAuthOf(req: IncomingMessage): [string?, string?] {
  const header = req.headers.authorization ?? "";
  if (!header.startsWith("Basic ")) return [];
  const [key, secret] = Buffer.from(header.slice(6), "base64").toString("utf8").split(":");
  return [key, secret];
}
