// A local stand-in for the Gmail API (REST v1), following Google's documented formats, its answers
// typed with Google's own `gmail_v1` types so that a format mistake fails to compile:
// - `users.getProfile`, `users.messages.list` (labelIds all matching, `q` with after:/before:, newest
//   first, `maxResults` ≤ 500, opaque `nextPageToken`, spam and trash left out unless
//   `includeSpamTrash`), `users.messages.get` (`format=raw`: the RFC 822 bytes in padded base64url,
//   fields in Gmail's order, pretty-printed unless `prettyPrint=false`; `format=minimal`), `users.history.list`
//   (records after `startHistoryId` with `messagesAdded` / `labelsAdded`, `historyTypes`, one
//   `labelId`, paging, 404 for a history id older than what is kept), `users.messages.send` (`raw`
//   stored as sent, a Message-ID added when missing, threaded on `threadId` only when References or
//   In-Reply-To is set and the subject matches, as the API reference says), `users.watch` /
//   `users.stop` (a 7-day expiry; a notification queued for each change to a watched label);
// - bearer tokens checked at the tests' authorization server (RFC 7662 introspection), `me` or the
//   token's own address as userId, quota units counted per user ("Usage limits" table);
// - faults on demand: Google's error JSON for 429 / 403 `rateLimitExceeded` / `userRateLimitExceeded`
//   / 500, or an answer lost (the connection dropped before or after the request was carried out).
// History ids grow with gaps, as Gmail's do. The only part of the Gmail tests that is not Google.

import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { gmail_v1 } from "@googleapis/gmail";
import type { AuthorizationServerInfo } from "./authorization-server.js";
import { freePort } from "./ports.js";

/** Google's error body ("Resolve errors" in the Gmail API guide). */
export interface GoogleErrorBody {
  error: { code: number; message: string; errors: { message: string; domain: string; reason: string }[]; status: string };
}

export interface StoredMessage {
  id: string;
  threadId: string;
  labelIds: string[];
  raw: Buffer;
  internalDate: Date;
  historyId: string;
}

export type GmailFault =
  | { kind: "quota"; status: 429 | 403; reason: "rateLimitExceeded" | "userRateLimitExceeded"; retryAfterSeconds?: number }
  | { kind: "server-error" }
  | { kind: "bad-request"; message: string }
  /** The connection is cut without an answer: before the request is carried out, or after. */
  | { kind: "drop"; when: "before" | "after" };

export interface GmailRequestRecord {
  user: string | null;
  method: string;
  query: URLSearchParams;
  /** The JSON body of a POST, as read. */
  body?: unknown;
  status: number;
}

export interface TestGmailServer {
  url: string;
  /** The Google Cloud project of the app: `users.watch` accepts only its topics. */
  projectId: string;
  /** A message arriving in `user`'s mailbox, as Gmail records it (a history record `messagesAdded`). */
  deliver(user: string, raw: Buffer, options: { labelIds: string[]; internalDate?: Date; threadId?: string }): StoredMessage;
  /** Labels given to a message (a history record `labelsAdded`). */
  addLabels(user: string, id: string, labelIds: string[]): void;
  /** Gmail no longer keeps the history before now: older start ids answer 404. */
  forgetHistory(user: string): void;
  /** The next call of `method` (`users.messages.get`…) for any user meets `fault` instead of its answer. */
  failNext(method: string, ...faults: GmailFault[]): void;
  mailbox(user: string): { historyId: string; messages: StoredMessage[]; watch?: { topicName: string; labelIds: string[]; expiration: Date } };
  unitsUsed(user: string): number;
  /** What Gmail published to the topic, oldest first (`{emailAddress, historyId}`). */
  notifications: { emailAddress: string; historyId: string; topicName: string }[];
  requests: GmailRequestRecord[];
  close(): Promise<void>;
}

/** Google's per-method costs ("Usage limits", Gmail API). */
const UNITS: Record<string, number> = {
  "users.getProfile": 1, "users.messages.list": 5, "users.messages.get": 5, "users.messages.send": 100,
  "users.history.list": 2, "users.watch": 100, "users.stop": 50,
};
const WATCH_LIFETIME_MS = 7 * 24 * 3_600_000;
const MAX_SEND_BODY_BYTES = 48 * 1024 * 1024;

interface Mailbox {
  emailAddress: string;
  historyId: number;
  oldestHistoryId: number;
  messages: Map<string, StoredMessage>;
  history: gmail_v1.Schema$History[];
  watch?: { topicName: string; labelIds: string[]; behavior: string; expiration: Date };
  units: number;
}

export async function startGmailServer(options: { authorizationServer: AuthorizationServerInfo; now?: () => Date; projectId?: string }): Promise<TestGmailServer> {
  const port = await freePort();
  const now = options.now ?? (() => new Date());
  const projectId = options.projectId ?? "lokario-test";
  const mailboxes = new Map<string, Mailbox>();
  const faults = new Map<string, GmailFault[]>();
  const notifications: TestGmailServer["notifications"] = [];
  const requests: GmailRequestRecord[] = [];
  const pageSecret = randomBytes(8).toString("hex");
  let nextId = 0x18f0a0b0c0d00000n + BigInt(randomBytes(2).readUInt16BE());

  const mailboxOf = (user: string): Mailbox => {
    const key = user.toLowerCase();
    let mailbox = mailboxes.get(key);
    if (!mailbox) {
      const start = 4_000 + randomBytes(2).readUInt16BE();
      mailbox = { emailAddress: key, historyId: start, oldestHistoryId: start, messages: new Map(), history: [], units: 0 };
      mailboxes.set(key, mailbox);
    }
    return mailbox;
  };
  /** A new history record: ids grow with gaps, as Gmail's "not contiguous with random gaps". */
  const record = (mailbox: Mailbox, fields: Omit<gmail_v1.Schema$History, "id">, labelIds: string[]): string => {
    mailbox.historyId += 1 + randomBytes(1)[0]! % 7;
    const id = String(mailbox.historyId);
    mailbox.history.push({ id, ...fields });
    const watch = mailbox.watch;
    const isWatched = watch && now() < watch.expiration && (watch.behavior === "exclude"
      ? !labelIds.some((l) => watch.labelIds.includes(l))
      : watch.labelIds.length === 0 || labelIds.some((l) => watch.labelIds.includes(l)));
    if (isWatched) notifications.push({ emailAddress: mailbox.emailAddress, historyId: id, topicName: watch.topicName });
    return id;
  };
  const store = (mailbox: Mailbox, raw: Buffer, labelIds: string[], internalDate: Date, threadId?: string): StoredMessage => {
    const id = (nextId++).toString(16);
    const message: StoredMessage = { id, threadId: threadId ?? id, labelIds: [...labelIds], raw, internalDate, historyId: "" };
    mailbox.messages.set(id, message);
    message.historyId = record(mailbox, { messages: [ref(message)], messagesAdded: [{ message: { ...ref(message), labelIds: [...labelIds] } }] }, labelIds);
    return message;
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, googleError(500, String(err), "backendError", "global", "INTERNAL"), true);
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://gmail.local");
    const pretty = url.searchParams.get("prettyPrint") !== "false";
    const entry: GmailRequestRecord = { user: null, method: "unknown", query: url.searchParams, status: 0 };
    requests.push(entry);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      sendJson(res, status, body, pretty, headers);
    };
    const match = /^\/gmail\/v1\/users\/([^/]+)(\/.*)$/.exec(url.pathname);
    const method = match ? methodOf(req.method ?? "GET", match[2]!) : undefined;
    if (!match || !method) return answer(404, googleError(404, "Not Found", "notFound", "global", "NOT_FOUND"));
    entry.method = method.name;
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const account = token ? await introspect(options.authorizationServer, token) : null;
    if (!account) {
      return answer(401, { error: { code: 401, message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", errors: [{ message: "Invalid Credentials", domain: "global", reason: "authError" }], status: "UNAUTHENTICATED" } }, { "www-authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"' });
    }
    const userId = decodeURIComponent(match[1]!);
    if (userId !== "me" && userId.toLowerCase() !== account.toLowerCase()) {
      return answer(403, googleError(403, `Delegation denied for ${account}`, "forbidden", "global", "PERMISSION_DENIED"));
    }
    const mailbox = mailboxOf(account);
    entry.user = mailbox.emailAddress;
    mailbox.units += UNITS[method.name] ?? 0;
    const fault = faults.get(method.name)?.shift();
    if (fault?.kind === "drop" && fault.when === "before") return void req.socket.destroy();
    if (fault?.kind === "quota") {
      const message = fault.reason === "userRateLimitExceeded" ? "User-rate limit exceeded." : "Rate Limit Exceeded";
      return answer(fault.status, googleError(fault.status, message, fault.reason, "usageLimits", fault.status === 429 ? "RESOURCE_EXHAUSTED" : "PERMISSION_DENIED"),
        fault.retryAfterSeconds === undefined ? {} : { "retry-after": String(fault.retryAfterSeconds) });
    }
    if (fault?.kind === "server-error") return answer(500, googleError(500, "Backend Error", "backendError", "global", "INTERNAL"));
    if (fault?.kind === "bad-request") return answer(400, googleError(400, fault.message, "invalidArgument", "global", "INVALID_ARGUMENT"));
    const body = req.method === "POST" ? await readJson(req) : undefined;
    entry.body = body;
    const [status, result] = method.run(mailbox, url.searchParams, body);
    if (fault?.kind === "drop") return void req.socket.destroy();
    if (status === 204) {
      entry.status = 204;
      res.writeHead(204).end();
      return;
    }
    answer(status, result);
  }

  function methodOf(httpMethod: string, path: string): { name: string; run: (m: Mailbox, q: URLSearchParams, body: unknown) => [number, unknown] } | undefined {
    if (httpMethod === "GET" && path === "/profile") return { name: "users.getProfile", run: getProfile };
    if (httpMethod === "GET" && path === "/messages") return { name: "users.messages.list", run: listMessages };
    if (httpMethod === "POST" && path === "/messages/send") return { name: "users.messages.send", run: (m, _q, body) => sendMessage(m, body) };
    const get = /^\/messages\/([0-9a-f]+)$/.exec(path);
    if (httpMethod === "GET" && get) return { name: "users.messages.get", run: (m, q) => getMessage(m, get[1]!, q) };
    if (httpMethod === "GET" && path === "/history") return { name: "users.history.list", run: listHistory };
    if (httpMethod === "POST" && path === "/watch") return { name: "users.watch", run: (m, _q, body) => watch(m, body) };
    if (httpMethod === "POST" && path === "/stop") return { name: "users.stop", run: (m) => { delete m.watch; return [204, null]; } };
    return undefined;
  }

  function getProfile(mailbox: Mailbox): [number, unknown] {
    const threads = new Set([...mailbox.messages.values()].map((m) => m.threadId));
    return [200, { emailAddress: mailbox.emailAddress, messagesTotal: mailbox.messages.size, threadsTotal: threads.size, historyId: String(mailbox.historyId) } satisfies gmail_v1.Schema$Profile];
  }

  function listMessages(mailbox: Mailbox, query: URLSearchParams): [number, unknown] {
    const labelIds = query.getAll("labelIds");
    const includeSpamTrash = query.get("includeSpamTrash") === "true";
    const search = searchOf(query.get("q") ?? "");
    if (!search) return [400, googleError(400, "Invalid query (the local server knows after:, before:)", "invalidArgument", "global", "INVALID_ARGUMENT")];
    const matching = [...mailbox.messages.values()]
      .filter((m) => labelIds.every((l) => m.labelIds.includes(l)))
      .filter((m) => includeSpamTrash || !m.labelIds.some((l) => l === "SPAM" || l === "TRASH"))
      .filter((m) => search(m.internalDate))
      .sort((a, b) => b.internalDate.getTime() - a.internalDate.getTime() || (a.id < b.id ? 1 : -1));
    const page = pageOf(matching, query, `messages|${labelIds.join(",")}|${query.get("q") ?? ""}|${includeSpamTrash}`);
    if (!page) return [400, googleError(400, "Invalid pageToken", "invalidArgument", "global", "INVALID_ARGUMENT")];
    return [200, {
      ...(page.items.length > 0 ? { messages: page.items.map(ref) } : {}),
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
      resultSizeEstimate: matching.length,
    } satisfies gmail_v1.Schema$ListMessagesResponse];
  }

  function getMessage(mailbox: Mailbox, id: string, query: URLSearchParams): [number, unknown] {
    const message = mailbox.messages.get(id);
    if (!message) return [404, googleError(404, "Requested entity was not found.", "notFound", "global", "NOT_FOUND")];
    const format = (query.get("format") ?? "full").toLowerCase();
    if (format !== "raw" && format !== "minimal") return [400, googleError(400, `format=${format} is not served by the local server`, "invalidArgument", "global", "INVALID_ARGUMENT")];
    // Gmail's field order: `sizeEstimate` comes before `raw`.
    return [200, {
      id: message.id,
      threadId: message.threadId,
      labelIds: message.labelIds,
      snippet: snippetOf(message.raw),
      sizeEstimate: message.raw.length,
      ...(format === "raw" ? { raw: message.raw.toString("base64").replace(/\+/g, "-").replace(/\//g, "_") } : {}),
      historyId: message.historyId,
      internalDate: String(message.internalDate.getTime()),
    } satisfies gmail_v1.Schema$Message];
  }

  function listHistory(mailbox: Mailbox, query: URLSearchParams): [number, unknown] {
    const start = query.get("startHistoryId");
    if (!start) return [400, googleError(400, "Missing required parameter: startHistoryId", "required", "global", "INVALID_ARGUMENT")];
    if (!/^\d+$/.test(start)) return [400, googleError(400, "Invalid startHistoryId", "invalidArgument", "global", "INVALID_ARGUMENT")];
    if (Number(start) < mailbox.oldestHistoryId) return [404, googleError(404, "Requested entity was not found.", "notFound", "global", "NOT_FOUND")];
    const types = query.getAll("historyTypes");
    const labelId = query.get("labelId");
    const records = mailbox.history
      .filter((r) => Number(r.id) > Number(start))
      .map((r) => onlyTypes(r, types))
      .filter((r): r is gmail_v1.Schema$History => r !== null)
      .filter((r) => !labelId || [...(r.messagesAdded ?? []), ...(r.labelsAdded ?? [])].some((e) => e.message?.labelIds?.includes(labelId)));
    const page = pageOf(records, query, `history|${start}|${types.join(",")}|${labelId ?? ""}`);
    if (!page) return [400, googleError(400, "Invalid pageToken", "invalidArgument", "global", "INVALID_ARGUMENT")];
    return [200, {
      ...(page.items.length > 0 ? { history: page.items } : {}),
      ...(page.nextPageToken ? { nextPageToken: page.nextPageToken } : {}),
      historyId: String(mailbox.historyId),
    } satisfies gmail_v1.Schema$ListHistoryResponse];
  }

  function sendMessage(mailbox: Mailbox, body: unknown): [number, unknown] {
    const request = body as gmail_v1.Schema$Message | undefined;
    if (!request?.raw) return [400, googleError(400, "'raw' RFC822 payload message string or uploading message via /upload/* URL required", "invalidArgument", "global", "INVALID_ARGUMENT")];
    if (!/^[A-Za-z0-9_-]*={0,2}$/.test(request.raw)) return [400, googleError(400, "Invalid value for ByteString", "invalidArgument", "global", "INVALID_ARGUMENT")];
    let raw = Buffer.from(request.raw, "base64url");
    const headers = headersOf(raw);
    const recipients = ["to", "cc", "bcc"].flatMap((name) => (headers.get(name) ?? "").split(",")).map((a) => /<([^>]+)>/.exec(a)?.[1] ?? a.trim()).filter(Boolean);
    if (recipients.length === 0) return [400, googleError(400, "Recipient address required", "invalidArgument", "global", "INVALID_ARGUMENT")];
    if (!headers.has("message-id")) raw = Buffer.concat([Buffer.from(`Message-ID: <${randomBytes(12).toString("hex")}@mail.gmail.com>\r\n`), raw]);
    const thread = request.threadId ? [...mailbox.messages.values()].find((m) => m.threadId === request.threadId) : undefined;
    const isThreaded = thread !== undefined && (headers.has("references") || headers.has("in-reply-to"))
      && baseSubject(headers.get("subject") ?? "") === baseSubject(headersOf(thread.raw).get("subject") ?? "");
    const toSelf = recipients.some((a) => a.toLowerCase() === mailbox.emailAddress);
    const message = store(mailbox, raw, toSelf ? ["SENT", "INBOX", "UNREAD"] : ["SENT"], now(), isThreaded ? thread.threadId : undefined);
    return [200, { id: message.id, threadId: message.threadId, labelIds: message.labelIds } satisfies gmail_v1.Schema$Message];
  }

  function watch(mailbox: Mailbox, body: unknown): [number, unknown] {
    const request = (body ?? {}) as gmail_v1.Schema$WatchRequest;
    const topic = /^projects\/([^/]+)\/topics\/[^/]+$/.exec(request.topicName ?? "");
    if (!topic || topic[1] !== projectId) {
      return [400, googleError(400, `Invalid topicName does not match projects/${projectId}/topics/*`, "invalidArgument", "global", "INVALID_ARGUMENT")];
    }
    const expiration = new Date(now().getTime() + WATCH_LIFETIME_MS);
    mailbox.watch = { topicName: request.topicName!, labelIds: request.labelIds ?? [], behavior: request.labelFilterBehavior ?? request.labelFilterAction ?? "include", expiration };
    return [200, { historyId: String(mailbox.historyId), expiration: String(expiration.getTime()) } satisfies gmail_v1.Schema$WatchResponse];
  }

  /** One page of `items` after the token's offset; null for a token this listing did not give. */
  function pageOf<T>(items: T[], query: URLSearchParams, listing: string): { items: T[]; nextPageToken?: string } | null {
    const size = Math.min(500, Math.max(1, Number(query.get("maxResults") ?? 100) || 100));
    let offset = 0;
    const token = query.get("pageToken");
    if (token) {
      const [secret, forListing, at] = Buffer.from(token, "base64url").toString("utf8").split("\n");
      if (secret !== pageSecret || forListing !== listing || !/^\d+$/.test(at ?? "")) return null;
      offset = Number(at);
    }
    const end = offset + size;
    return { items: items.slice(offset, end), nextPageToken: end < items.length ? Buffer.from(`${pageSecret}\n${listing}\n${end}`).toString("base64url") : undefined };
  }

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    projectId,
    deliver: (user, raw, { labelIds, internalDate, threadId }) => store(mailboxOf(user), raw, labelIds, internalDate ?? now(), threadId),
    addLabels: (user, id, labelIds) => {
      const mailbox = mailboxOf(user);
      const message = mailbox.messages.get(id);
      if (!message) throw new Error(`no message ${id} in ${user}`);
      const added = labelIds.filter((l) => !message.labelIds.includes(l));
      message.labelIds.push(...added);
      message.historyId = record(mailbox, { messages: [ref(message)], labelsAdded: [{ message: { ...ref(message), labelIds: [...message.labelIds] }, labelIds: added }] }, message.labelIds);
    },
    forgetHistory: (user) => {
      const mailbox = mailboxOf(user);
      mailbox.oldestHistoryId = mailbox.historyId;
      mailbox.history = [];
    },
    failNext: (method, ...list) => faults.set(method, [...(faults.get(method) ?? []), ...list]),
    mailbox: (user) => {
      const mailbox = mailboxOf(user);
      return { historyId: String(mailbox.historyId), messages: [...mailbox.messages.values()], watch: mailbox.watch };
    },
    unitsUsed: (user) => mailboxOf(user).units,
    notifications,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The account a token belongs to, per the authorization server (RFC 7662), or null when it is not active. */
async function introspect(server: AuthorizationServerInfo, token: string): Promise<string | null> {
  const response = await fetch(`${server.issuer}/token/introspection`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token, client_id: server.clientId, client_secret: server.clientSecret }),
  });
  const answer = (await response.json()) as { active?: boolean; sub?: string };
  return answer.active === true && answer.sub ? answer.sub : null;
}

function googleError(code: number, message: string, reason: string, domain: string, status: string): GoogleErrorBody {
  return { error: { code, message, errors: [{ message, domain, reason }], status } };
}

function sendJson(res: ServerResponse, status: number, body: unknown, pretty: boolean, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
  res.end(JSON.stringify(body, null, pretty ? 2 : undefined));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_SEND_BODY_BYTES) throw new Error("request too large");
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? JSON.parse(text) : undefined;
}

function ref(message: StoredMessage): { id: string; threadId: string } {
  return { id: message.id, threadId: message.threadId };
}

/** A record with only the requested change types (all of them when none is named); null when nothing is left. */
function onlyTypes(record: gmail_v1.Schema$History, types: string[]): gmail_v1.Schema$History | null {
  if (types.length === 0) return record;
  const kept: gmail_v1.Schema$History = { id: record.id, messages: record.messages };
  if (types.includes("messageAdded") && record.messagesAdded) kept.messagesAdded = record.messagesAdded;
  if (types.includes("labelAdded") && record.labelsAdded) kept.labelsAdded = record.labelsAdded;
  return kept.messagesAdded || kept.labelsAdded ? kept : null;
}

/** Gmail search, as far as the tests use it: `after:` and `before:` with epoch seconds or YYYY/MM/DD. */
function searchOf(q: string): ((internalDate: Date) => boolean) | null {
  const tests: ((d: Date) => boolean)[] = [];
  for (const term of q.split(/\s+/).filter(Boolean)) {
    const m = /^(after|before):(\d+|\d{4}\/\d{1,2}\/\d{1,2})$/.exec(term);
    if (!m) return null;
    const atMs = /^\d+$/.test(m[2]!) ? Number(m[2]) * 1000 : Date.parse(m[2]!.replace(/\//g, "-"));
    tests.push(m[1] === "after" ? (d) => d.getTime() > atMs : (d) => d.getTime() < atMs);
  }
  return (d) => tests.every((t) => t(d));
}

/** The header fields of a message, lower-cased names, unfolded. */
function headersOf(raw: Buffer): Map<string, string> {
  const text = raw.toString("latin1");
  const end = text.search(/\r?\n\r?\n/);
  const headers = new Map<string, string>();
  for (const line of (end === -1 ? text : text.slice(0, end)).replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at > 0) headers.set(line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim());
  }
  return headers;
}

function baseSubject(subject: string): string {
  return subject.replace(/^((re|fwd?|tr)\s*:\s*)+/i, "").trim().toLowerCase();
}

/** A short plain-text excerpt, as Gmail's `snippet`. */
function snippetOf(raw: Buffer): string {
  const text = raw.toString("utf8");
  const end = text.search(/\r?\n\r?\n/);
  return (end === -1 ? "" : text.slice(end)).replace(/\s+/g, " ").trim().slice(0, 100);
}
