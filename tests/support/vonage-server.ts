// A local stand-in for Vonage's SMS API, following its documented formats (developer.vonage.com,
// "SMS API reference": POST /sms/json with api_key/api_secret — in the body, the query or HTTP Basic
// auth as the SDK sends them — from, to, text, type=unicode when needed, client-ref; the answer
// {"message-count": "1", "messages": [{"to", "message-id", "status": "0", "remaining-balance",
// "message-price", "network", "client-ref"}]}, one message per 160/153 GSM or 70/67 UCS-2 segment;
// a non-zero status per message for errors, e.g. "1" throttled, "4" invalid credentials).
// It also writes the webhooks Vonage would then call, for the account that sent each text: delivery
// receipts ("SMS API › Delivery receipts": msisdn, to, network-code, messageId, price, status, scts,
// err-code, api-key, client-ref, message-timestamp) and inbound texts ("Inbound SMS": api-key,
// msisdn, to, messageId, text, type, keyword, message-timestamp), signed when the account has a
// signature secret ("Signing Messages": timestamp, nonce and sig added; see `signedByVonage`).
// The only part of the product's tests that cannot run against the real peer here.

import { createHash, createHmac, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { smsLength } from "../../lib/sms/segments.js";
import { useFixture } from "./fixture.js";
import { freePort } from "./ports.js";

export type SignatureMethod = "md5hash" | "md5" | "sha1" | "sha256" | "sha512";

/** One Vonage account (API key) and what its dashboard says about its webhooks. */
export interface VonageAccount {
  apiKey: string;
  apiSecret: string;
  signatureSecret?: string;
  signatureMethod?: SignatureMethod;
}

export interface VonageRequest {
  apiKey: string;
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
  /** Another account this server accepts (the first, `apiKey`/`apiSecret`, is always there). */
  addAccount(account: VonageAccount): void;
  /** The receipt Vonage would send for one segment it accepted, from the account that sent it. */
  receiptFor(messageId: string, status: string, at: Date): Record<string, string>;
  /** A client's text to one of `apiKey`'s numbers (or sender names), as Vonage would pass it on. */
  inboundText(options: { apiKey: string; from: string; to: string; text: string; at: Date }): Record<string, string>;
  close(): Promise<void>;
}

/** The Vonage server of the tests of a `describe` (call it there, or at the top of a file), started before them and closed after. */
export function useVonageServer(): TestVonageServer {
  return useFixture("the Vonage server", { start: startVonageServer, close: (server) => server.close() });
}

export async function startVonageServer(): Promise<TestVonageServer> {
  const port = await freePort();
  const apiKey = "abcd1234";
  const apiSecret = "vonage-secret-1";
  const requests: VonageRequest[] = [];
  const statuses: string[] = [];
  const accounts = new Map<string, VonageAccount>([[apiKey, { apiKey, apiSecret }]]);
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
    const account = key === undefined ? undefined : accounts.get(key);
    if (!account || secret !== account.apiSecret) {
      return res.end(JSON.stringify({ "message-count": "1", messages: [{ status: "4", "error-text": "Bad Credentials" }] }));
    }
    const status = statuses.shift() ?? "0";
    if (status !== "0") {
      return res.end(JSON.stringify({ "message-count": "1", messages: [{ status, "error-text": status === "1" ? "Throughput Rate Exceeded - please wait [ 1000 ] and retry" : "Error" }] }));
    }
    const text = fields.text ?? "";
    const parts = smsLength(text).segments;
    const messageIds = Array.from({ length: parts }, () => `0A0000000${(next++).toString(16).padStart(7, "0")}`);
    requests.push({ apiKey: account.apiKey, from: fields.from ?? "", to: fields.to ?? "", text, type: fields.type, clientRef: fields["client-ref"], messageIds });
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
    addAccount: (account) => accounts.set(account.apiKey, account),
    receiptFor: (messageId, status, at) => {
      const request = requests.find((r) => r.messageIds.includes(messageId));
      if (!request) throw new Error(`no text was sent with message id ${messageId}`);
      return webhookOf(accounts.get(request.apiKey)!, {
        msisdn: request.to, to: request.from, "network-code": "20801", messageId, price: "0.03330000", status,
        scts: vonageTime(at).replace(/\D/g, "").slice(2, 12), "err-code": status === "delivered" ? "0" : "1",
        "client-ref": request.clientRef ?? "", "message-timestamp": vonageTime(at),
      }, at);
    },
    inboundText: ({ apiKey: key, from, to, text, at }) => {
      const account = accounts.get(key) ?? { apiKey: key, apiSecret: "" };
      return webhookOf(account, {
        msisdn: from.replace(/^\+/, ""), to: to.replace(/^\+/, ""), messageId: `0B00000${(next++).toString(16).padStart(9, "0")}`,
        text, type: "text", keyword: text.split(/\s+/)[0]!.toUpperCase(), "message-timestamp": vonageTime(at),
      }, at);
    },
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

/** A webhook's fields from `account`: its API key, and Vonage's signature when the account has a secret. */
function webhookOf(account: VonageAccount, fields: Record<string, string>, at: Date): Record<string, string> {
  const withKey = { ...fields, "api-key": account.apiKey };
  if (!account.signatureSecret) return withKey;
  return signedByVonage(withKey, account.signatureSecret, account.signatureMethod ?? "md5hash", at);
}

/**
 * `fields` signed as Vonage signs an SMS webhook ("Signing Messages", generating a signature by
 * hand): the Unix `timestamp` and a random `nonce` added; each parameter, sorted by name, written
 * `&name=value` with "&" and "=" in the value replaced by "_"; then the MD5 of that text followed
 * by the secret ("md5hash"), or its HMAC keyed by the secret; hex.
 */
export function signedByVonage(fields: Record<string, string>, secret: string, method: SignatureMethod, at: Date): Record<string, string> {
  const params: Record<string, string> = { ...fields, timestamp: String(Math.floor(at.getTime() / 1000)), nonce: randomBytes(8).toString("hex") };
  const text = Object.keys(params).sort().map((name) => `&${name}=${params[name]!.replace(/[&=]/g, "_")}`).join("");
  const sig = method === "md5hash"
    ? createHash("md5").update(text + secret).digest("hex")
    // In capitals, as Vonage's .NET library writes HMAC signatures: a receiver compares without case.
    : createHmac(method, secret).update(text).digest("hex").toUpperCase();
  return { ...params, sig };
}

/** "YYYY-MM-DD HH:MM:SS" in UTC, as Vonage dates its webhooks. */
function vonageTime(at: Date): string {
  return at.toISOString().slice(0, 19).replace("T", " ");
}
