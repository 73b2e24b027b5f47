// A local stand-in for Microsoft Graph's mail API, following Microsoft's documented requests and
// answers, its bodies typed with @microsoft/microsoft-graph-types (and lib/graph/odata.ts for the
// OData envelopes) so that a format mistake fails to compile:
// - bearer tokens checked by RFC 7662 introspection at the tests' authorization server; `/me` is
//   the token's account, `/users/{address}` another mailbox, readable only when its owner granted
//   that account access (a shared mailbox's Full Access / Send As), else 403 ErrorAccessDenied;
// - delta rounds on well-known folders ("message: delta"): $select, $filter=receivedDateTime ge|gt,
//   Prefer: odata.maxpagesize (10 by default), opaque $skiptoken/$deltatoken links, @removed items;
//   tokens expired on demand answer as configured (410 with syncStateNotFound by default);
// - GET /mailFolders/{folder}/messages ("List messages"): $select, $top, $skip, $orderby receivedDateTime;
// - GET /messages/{id}/$value streamed in chunks, optionally held after its first chunk;
// - POST /sendMail in MIME (base64 text/plain body): 202, the message kept and a copy put in Sent
//   Items; faults on demand (a refusal, the answer lost after accepting, no answer at all);
// - subscriptions (POST, PATCH, DELETE /subscriptions): the validation POST to each URL, which must
//   echo the token as text within 10 s; the 10,080-minute ceiling and 45-minute floor; delegated
//   tokens limited to their own mailbox (403 ExtensionError otherwise); change notifications POSTed
//   on delivery, lifecycle notifications on demand;
// - throttling: queued 429/503 answers with Retry-After on demand, and Outlook's 4 concurrent
//   requests per mailbox enforced (429 ApplicationThrottled), with the peak counted.
// Departures, for loopback tests: notification URLs may be http:// on 127.0.0.1; application
// (app-only) tokens are not issued by the tests' authorization server, so not modelled.

import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { ChangeNotificationCollection, LifecycleEventType, Message, Subscription } from "@microsoft/microsoft-graph-types";
import type { ODataCollection, ODataErrorBody, ODataRemoved } from "../../lib/graph/odata.js";
import type { AuthorizationServerInfo } from "./authorization-server.js";
import { freePort } from "./ports.js";

export type Folder = "inbox" | "sentitems";
export type SendFault = { kind: "refuse"; status: number; code: string } | { kind: "drop-connection" } | { kind: "never-answer" };

export interface StoredMessage {
  id: string;
  folder: Folder;
  mime: Buffer;
  internetMessageId?: string;
  receivedAt: Date;
  createdSeq: number;
  removedSeq?: number;
}

export interface SentMail {
  mailbox: string;
  sentBy: string;
  mime: Buffer;
}

export interface NotificationDelivery {
  subscriptionId: string;
  url: string;
  status: number | "unreachable";
  body: ChangeNotificationCollection;
}

export interface TestGraphServer {
  /** Graph's root as the client takes it, e.g. http://127.0.0.1:PORT/v1.0. */
  baseUrl: string;
  addMailbox(address: string): void;
  /** Lets `user` read and send as `mailbox` (a shared mailbox's Full Access and Send As). */
  grant(mailbox: string, user: string): void;
  revoke(mailbox: string, user: string): void;
  /** Puts a message in a folder and POSTs the notifications of its subscriptions; returns its id. */
  deliver(mailbox: string, folder: Folder, mime: string | Buffer, receivedAt?: Date): Promise<string>;
  remove(mailbox: string, messageId: string): void;
  messages(mailbox: string, folder: Folder): StoredMessage[];
  readonly sent: SentMail[];
  /** Makes every delta token of `mailbox` handed out so far unusable, answered as `answer` says. */
  expireDeltaTokens(mailbox: string, answer?: { status: number; code: string }): void;
  /** Answers the next requests with these throttling answers, in order. */
  throttle(...answers: Array<{ status: 429 | 503; retryAfter?: string }>): void;
  failNextSendMail(fault: SendFault): void;
  /** Holds `messageId`'s $value after its first chunk until `release()`. */
  holdMimeAfterFirstChunk(messageId: string): { isHolding(): boolean; release(): void };
  /** Holds every $value answer of `mailbox` before its first byte, released one by one. */
  holdMimeOf(mailbox: string): { waiting(): number; releaseOne(): void; releaseAll(): void };
  /** Requests being answered for `mailbox` now, and the most ever seen at once (refused ones included). */
  inFlight(mailbox: string): number;
  peakConcurrentRequests(mailbox: string): number;
  /** Requests refused for going over the 4 per mailbox. */
  concurrencyRefusals(mailbox: string): number;
  readonly requests: Array<{ method: string; path: string; query: URLSearchParams; prefer?: string; user?: string }>;
  readonly subscriptions: Map<string, Subscription & { mailbox: string; folder: Folder; creator: string }>;
  readonly notifications: NotificationDelivery[];
  sendLifecycleEvent(subscriptionId: string, event: LifecycleEventType): Promise<number | "unreachable">;
  close(): Promise<void>;
}

/** Outlook's limit, "Microsoft Graph service-specific throttling limits". */
const MAX_CONCURRENT_PER_MAILBOX = 4;
const DEFAULT_PAGE_SIZE = 10;
const MIME_CHUNK_BYTES = 16 * 1024;
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const SUBSCRIPTION_MAX_MINUTES = 10_080;
const SUBSCRIPTION_MIN_MINUTES = 45;
const VALIDATION_TIMEOUT_MS = 10_000;
const NOTIFICATION_TIMEOUT_MS = 3_000;
const TENANT_ID = "6f1d3f4e-0000-4000-8000-00000000c0de";

interface MailboxState {
  address: string;
  userId: string;
  messages: StoredMessage[];
  grantedTo: Set<string>;
  generation: number;
  expiredAnswer: { status: number; code: string };
  inFlight: number;
  peak: number;
  refusals: number;
}

interface DeltaToken {
  m: string;
  f: Folder;
  g: number;
  since: number;
  until: number;
  offset: number;
  select: string[] | null;
  filter: { op: "ge" | "gt"; at: string } | null;
  prefix: string;
}

export async function startGraphServer(options: { authorizationServer: AuthorizationServerInfo; now?: () => Date }): Promise<TestGraphServer> {
  const now = options.now ?? (() => new Date());
  const port = await freePort();
  const root = `http://127.0.0.1:${port}`;
  const baseUrl = `${root}/v1.0`;
  const mailboxes = new Map<string, MailboxState>();
  const sent: SentMail[] = [];
  const throttles: Array<{ status: 429 | 503; retryAfter?: string }> = [];
  const sendFaults: SendFault[] = [];
  const firstChunkHolds = new Map<string, { holding: boolean; gate: Promise<void>; open: () => void }>();
  const mailboxHolds = new Map<string, { queue: Array<() => void>; isOpen: boolean }>();
  const requests: TestGraphServer["requests"] = [];
  const subscriptions: TestGraphServer["subscriptions"] = new Map();
  const notifications: NotificationDelivery[] = [];
  let seq = 0;

  const mailboxOf = (address: string) => mailboxes.get(address.toLowerCase());
  const stateOf = (address: string) => {
    const state = mailboxOf(address);
    if (!state) throw new Error(`no mailbox ${address} on the Graph server`);
    return state;
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, "generalException", err instanceof Error ? err.message : String(err));
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", root);
    if (!url.pathname.startsWith("/v1.0/")) return sendError(res, 400, "BadRequest", "Invalid version.");
    const path = url.pathname.slice("/v1.0".length);
    const user = await authenticate(req);
    requests.push({ method: req.method ?? "GET", path, query: url.searchParams, prefer: headerText(req, "prefer"), user: user ?? undefined });
    if (!user) {
      res.setHeader("www-authenticate", 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"');
      return sendError(res, 401, "InvalidAuthenticationToken", "Access token validation failure.");
    }
    const throttled = throttles.shift();
    if (throttled) {
      if (throttled.retryAfter !== undefined) res.setHeader("retry-after", throttled.retryAfter);
      return throttled.status === 429
        ? sendError(res, 429, "TooManyRequests", "Please retry again later.")
        : sendError(res, 503, "serviceNotAvailable", "The service is temporarily unavailable.");
    }
    if (path === "/subscriptions" && req.method === "POST") return createSubscription(req, res, user);
    const subscriptionMatch = path.match(/^\/subscriptions\/([^/]+)$/);
    if (subscriptionMatch) return changeSubscription(req, res, user, decodeURIComponent(subscriptionMatch[1]!));

    const target = path.match(/^\/(me|users\/([^/]+))(\/.*)$/i);
    if (!target) return sendError(res, 400, "BadRequest", `Resource not found for the segment '${path.split("/")[1]}'.`);
    const address = (target[2] ? decodeURIComponent(target[2]) : user).toLowerCase();
    const mailbox = mailboxOf(address);
    if (!mailbox) {
      return target[2] ? sendError(res, 404, "ErrorInvalidUser", `The requested user '${address}' is invalid.`)
        : sendError(res, 404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.");
    }
    if (address !== user.toLowerCase() && !mailbox.grantedTo.has(user.toLowerCase())) {
      return sendError(res, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.");
    }
    mailbox.inFlight++;
    mailbox.peak = Math.max(mailbox.peak, mailbox.inFlight);
    res.on("close", () => mailbox.inFlight--);
    if (mailbox.inFlight > MAX_CONCURRENT_PER_MAILBOX) {
      mailbox.refusals++;
      res.setHeader("retry-after", "1");
      return sendError(res, 429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.");
    }
    const rest = target[3]!;
    const prefix = target[1]!;
    const delta = rest.match(/^\/mailfolders(?:\/(\w+)|\('(\w+)'\))\/messages\/delta$/i);
    if (delta && req.method === "GET") return answerDelta(req, res, url, mailbox, prefix, (delta[1] ?? delta[2])!.toLowerCase());
    const list = rest.match(/^\/mailfolders(?:\/(\w+)|\('(\w+)'\))\/messages$/i);
    if (list && req.method === "GET") return answerList(res, url, mailbox, (list[1] ?? list[2])!.toLowerCase());
    const value = rest.match(/^\/messages\/([^/]+)\/\$value$/i);
    if (value && req.method === "GET") return answerMime(res, mailbox, decodeURIComponent(value[1]!));
    if (/^\/sendmail$/i.test(rest) && req.method === "POST") return acceptSendMail(req, res, mailbox, user);
    return sendError(res, 400, "BadRequest", "Unsupported request on this local Graph server.");
  }

  async function authenticate(req: IncomingMessage): Promise<string | null> {
    const header = req.headers.authorization;
    if (!header?.startsWith("Bearer ")) return null;
    const { issuer, clientId, clientSecret } = options.authorizationServer;
    const response = await fetch(`${issuer}/token/introspection`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: header.slice("Bearer ".length), client_id: clientId, client_secret: clientSecret }),
    });
    const answer = (await response.json()) as { active?: boolean; sub?: string };
    return answer.active === true && typeof answer.sub === "string" ? answer.sub.toLowerCase() : null;
  }

  function answerDelta(req: IncomingMessage, res: ServerResponse, url: URL, mailbox: MailboxState, prefix: string, folder: string): void {
    if (folder !== "inbox" && folder !== "sentitems") return sendError(res, 404, "ErrorInvalidIdMalformed", "Id is malformed.");
    const pageSize = Number(/odata\.maxpagesize=(\d+)/.exec(headerText(req, "prefer") ?? "")?.[1] ?? DEFAULT_PAGE_SIZE);
    const skip = url.searchParams.get("$skiptoken");
    const delta = url.searchParams.get("$deltatoken");
    let token: DeltaToken;
    if (skip !== null || delta !== null) {
      const parsed = decodeToken((skip ?? delta)!);
      if (!parsed || parsed.m !== mailbox.address || parsed.f !== folder) return sendError(res, 400, "ErrorInvalidUrlQuery", "The state token is invalid.");
      if (parsed.g !== mailbox.generation) {
        if (mailbox.expiredAnswer.status === 410) res.setHeader("location", `${baseUrl}/${prefix}/mailFolders('${folder}')/messages/delta?$deltatoken=`);
        return sendError(res, mailbox.expiredAnswer.status, mailbox.expiredAnswer.code, "The sync state generation is not found.");
      }
      token = delta !== null ? { ...parsed, until: seq, offset: 0 } : parsed;
    } else {
      const select = url.searchParams.get("$select");
      const filterText = url.searchParams.get("$filter");
      let filter: DeltaToken["filter"] = null;
      if (filterText !== null) {
        const match = filterText.match(/^receivedDateTime (ge|gt) (\S+)$/);
        if (!match || Number.isNaN(Date.parse(match[2]!))) return sendError(res, 400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes.");
        filter = { op: match[1] as "ge" | "gt", at: match[2]! };
      }
      token = { m: mailbox.address, f: folder, g: mailbox.generation, since: 0, until: seq, offset: 0, select: select ? select.split(",") : null, filter, prefix };
    }
    const items = deltaItems(mailbox, token);
    const page = items.slice(token.offset, token.offset + pageSize);
    const link = (query: string) => `${baseUrl}/${token.prefix}/mailFolders('${folder}')/messages/delta?${query}`;
    const hasMore = token.offset + pageSize < items.length;
    const body: ODataCollection<Message | ODataRemoved> = {
      "@odata.context": `${baseUrl}/$metadata#Collection(message)`,
      ...(hasMore
        ? { "@odata.nextLink": link(`$skiptoken=${encodeToken({ ...token, offset: token.offset + pageSize })}`) }
        : { "@odata.deltaLink": link(`$deltatoken=${encodeToken({ ...token, since: token.until, offset: 0 })}`) }),
      value: page.map((item) => "@removed" in item ? item : project(item, token.select)),
    };
    res.setHeader("preference-applied", `odata.maxpagesize=${pageSize}`);
    sendJson(res, 200, body);
  }

  /** "List messages" of a folder: $select, $top, $skip, and $orderby receivedDateTime (desc or asc) only. */
  function answerList(res: ServerResponse, url: URL, mailbox: MailboxState, folder: string): void {
    if (folder !== "inbox" && folder !== "sentitems") return sendError(res, 404, "ErrorInvalidIdMalformed", "Id is malformed.");
    const orderBy = url.searchParams.get("$orderby");
    if (orderBy !== null && !/^receivedDateTime( (asc|desc))?$/i.test(orderBy)) return sendError(res, 400, "ErrorInvalidProperty", "The property in $orderby is not supported here.");
    const top = Number(url.searchParams.get("$top") ?? DEFAULT_PAGE_SIZE);
    const skip = Number(url.searchParams.get("$skip") ?? 0);
    const select = url.searchParams.get("$select");
    const present = mailbox.messages.filter((m) => m.folder === folder && m.removedSeq === undefined);
    const sign = /desc$/i.test(orderBy ?? "") ? -1 : 1;
    const sorted = orderBy === null ? present : [...present].sort((a, b) => sign * (a.receivedAt.getTime() - b.receivedAt.getTime()));
    const body: ODataCollection<Message> = {
      "@odata.context": `${baseUrl}/$metadata#users('${mailbox.userId}')/mailFolders('${folder}')/messages`,
      value: sorted.slice(skip, skip + top).map((m) => project(m, select ? select.split(",") : null)),
    };
    sendJson(res, 200, body);
  }

  function deltaItems(mailbox: MailboxState, token: DeltaToken): Array<StoredMessage | ODataRemoved> {
    const matches = (message: StoredMessage) => {
      if (!token.filter) return true;
      const at = Date.parse(token.filter.at);
      return token.filter.op === "ge" ? message.receivedAt.getTime() >= at : message.receivedAt.getTime() > at;
    };
    const items: Array<StoredMessage | ODataRemoved> = [];
    for (const message of mailbox.messages) {
      if (message.folder !== token.f) continue;
      const isPresent = message.createdSeq <= token.until && (message.removedSeq === undefined || message.removedSeq > token.until);
      if (token.since === 0 || message.createdSeq > token.since) {
        if (isPresent && matches(message)) items.push(message);
      } else if (message.removedSeq !== undefined && message.removedSeq > token.since && message.removedSeq <= token.until) {
        items.push({ "@odata.type": "#microsoft.graph.message", id: message.id, "@removed": { reason: "deleted" } });
      }
    }
    return items;
  }

  function project(message: StoredMessage, select: string[] | null): Message {
    const full: Message = {
      id: message.id,
      internetMessageId: message.internetMessageId ?? null,
      receivedDateTime: message.receivedAt.toISOString(),
      sentDateTime: message.receivedAt.toISOString(),
      subject: headerOf(message.mime, "subject") ?? null,
      isDraft: false,
    };
    const picked: Record<string, unknown> = { "@odata.type": "#microsoft.graph.message", "@odata.etag": `W/"${message.createdSeq}"`, id: message.id };
    for (const [key, value] of Object.entries(full)) if (!select || select.includes(key)) picked[key] = value;
    return picked as Message;
  }

  async function answerMime(res: ServerResponse, mailbox: MailboxState, id: string): Promise<void> {
    const message = mailbox.messages.find((candidate) => candidate.id === id && candidate.removedSeq === undefined);
    if (!message) return sendError(res, 404, "ErrorItemNotFound", "The specified object was not found in the store.");
    const mailboxHold = mailboxHolds.get(mailbox.address);
    if (mailboxHold && !mailboxHold.isOpen) await new Promise<void>((resolve) => mailboxHold.queue.push(resolve));
    res.writeHead(200, { "content-type": "text/plain" });
    const hold = firstChunkHolds.get(id);
    for (let offset = 0; offset < message.mime.length; offset += MIME_CHUNK_BYTES) {
      const chunk = message.mime.subarray(offset, offset + MIME_CHUNK_BYTES);
      if (!res.write(chunk)) await new Promise<void>((resolve) => res.once("drain", resolve));
      if (offset === 0 && hold) {
        hold.holding = true;
        await hold.gate;
        hold.holding = false;
      }
    }
    res.end();
  }

  async function acceptSendMail(req: IncomingMessage, res: ServerResponse, mailbox: MailboxState, user: string): Promise<void> {
    const body = await readRequest(req);
    if (body === null) return sendError(res, 413, "RequestEntityTooLarge", "The request is too large.");
    if (!/^text\/plain\b/i.test(req.headers["content-type"] ?? "")) return sendError(res, 400, "ErrorInvalidParameter", "This local server takes sendMail in MIME format only.");
    const text = body.toString("utf8").replace(/\r?\n/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0 || text.length === 0) {
      return sendError(res, 400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.");
    }
    const fault = sendFaults.shift();
    if (fault?.kind === "refuse") return sendError(res, fault.status, fault.code, "The message was refused.");
    const mime = Buffer.from(text, "base64");
    sent.push({ mailbox: mailbox.address, sentBy: user, mime });
    await store(mailbox, "sentitems", mime, now());
    if (fault?.kind === "drop-connection") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "never-answer") return;
    res.writeHead(202).end();
  }

  async function store(mailbox: MailboxState, folder: Folder, mime: Buffer, receivedAt: Date): Promise<string> {
    const id = `AAMkAD${randomUUID().replace(/-/g, "")}AAA=`;
    const internetMessageId = headerOf(mime, "message-id");
    mailbox.messages.push({ id, folder, mime, ...(internetMessageId ? { internetMessageId } : {}), receivedAt, createdSeq: ++seq });
    await notifyCreated(mailbox, folder, id);
    return id;
  }

  async function notifyCreated(mailbox: MailboxState, folder: Folder, messageId: string): Promise<void> {
    const resource = `Users/${mailbox.userId}/Messages/${messageId}`;
    const targets = [...subscriptions.values()].filter((subscription) =>
      subscription.mailbox === mailbox.address && subscription.folder === folder
      && (subscription.changeType ?? "").split(",").includes("created") && Date.parse(subscription.expirationDateTime!) > now().getTime());
    await Promise.all(targets.map((subscription) => post(subscription.notificationUrl!, subscription.id!, {
      value: [{
        subscriptionId: subscription.id!,
        subscriptionExpirationDateTime: subscription.expirationDateTime!,
        changeType: "created",
        resource,
        resourceData: { "@odata.type": "#Microsoft.Graph.Message", "@odata.id": resource, "@odata.etag": `W/"${seq}"`, id: messageId },
        clientState: subscription.clientState ?? null,
        tenantId: TENANT_ID,
      }],
    })));
  }

  async function post(url: string, subscriptionId: string, body: ChangeNotificationCollection): Promise<number | "unreachable"> {
    let status: number | "unreachable";
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json; charset=utf-8" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(NOTIFICATION_TIMEOUT_MS),
      });
      await response.body?.cancel();
      status = response.status;
    } catch {
      status = "unreachable";
    }
    notifications.push({ subscriptionId, url, status, body });
    return status;
  }

  async function createSubscription(req: IncomingMessage, res: ServerResponse, user: string): Promise<void> {
    const request = parseJson<Subscription>(await readRequest(req));
    if (!request) return sendError(res, 400, "InvalidRequest", "The request body is not a subscription.");
    const resource = request.resource?.replace(/^\//, "").match(/^(me|users\/([^/]+))\/mailfolders\('(\w+)'\)\/messages$/i);
    if (!resource) return sendError(res, 400, "InvalidRequest", "The resource is not supported by this local server.");
    const address = (resource[2] ? decodeURIComponent(resource[2]) : user).toLowerCase();
    const folder = resource[3]!.toLowerCase();
    if (folder !== "inbox" && folder !== "sentitems") return sendError(res, 400, "InvalidRequest", "Unknown folder.");
    const mailbox = mailboxOf(address);
    if (!mailbox) return sendError(res, 404, "ErrorInvalidUser", `The requested user '${address}' is invalid.`);
    // Delegated permissions subscribe to the signed-in person's own mailbox only; the Shared
    // permissions do not cover subscriptions ("Get Outlook messages in a shared or delegated folder").
    if (address !== user) return sendError(res, 403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: Forbidden]");
    const problem = checkSubscription(request);
    if (problem) return sendError(res, 400, "InvalidRequest", problem);
    if ((request.clientState ?? "").length > 128) return sendError(res, 400, "InvalidRequest", "clientState is longer than 128 characters.");
    for (const url of new Set([request.notificationUrl!, ...(request.lifecycleNotificationUrl ? [request.lifecycleNotificationUrl] : [])])) {
      if (!(await validates(url))) {
        return sendError(res, 400, "ValidationError", "Subscription validation request failed. Response must exactly match validationToken query parameter.");
      }
    }
    const subscription = {
      id: randomUUID(),
      resource: request.resource!,
      applicationId: options.authorizationServer.clientId,
      changeType: request.changeType!,
      clientState: request.clientState ?? null,
      notificationUrl: request.notificationUrl!,
      lifecycleNotificationUrl: request.lifecycleNotificationUrl ?? null,
      expirationDateTime: expiryOf(request.expirationDateTime!),
      creatorId: mailbox.userId,
      includeResourceData: null,
      latestSupportedTlsVersion: "v1_2",
      encryptionCertificate: null,
      encryptionCertificateId: null,
      notificationUrlAppId: null,
    } satisfies Subscription;
    subscriptions.set(subscription.id, { ...subscription, mailbox: address, folder, creator: user });
    sendJson(res, 201, { "@odata.context": `${baseUrl}/$metadata#subscriptions/$entity`, ...subscription });
  }

  async function changeSubscription(req: IncomingMessage, res: ServerResponse, user: string, id: string): Promise<void> {
    const subscription = subscriptions.get(id);
    if (!subscription || subscription.creator !== user) {
      await readRequest(req);
      return sendError(res, 404, "ResourceNotFound", "The object was not found.");
    }
    if (req.method === "DELETE") {
      subscriptions.delete(id);
      res.writeHead(204).end();
      return;
    }
    if (req.method !== "PATCH") return sendError(res, 405, "BadRequest", "Method not allowed.");
    const change = parseJson<Subscription>(await readRequest(req));
    const problem = change ? checkSubscription({ ...subscription, expirationDateTime: change.expirationDateTime }) : "The request body is not a subscription.";
    if (problem) return sendError(res, 400, "InvalidRequest", problem);
    subscription.expirationDateTime = expiryOf(change!.expirationDateTime!);
    const { mailbox: _mailbox, folder: _folder, creator: _creator, ...answer } = subscription;
    sendJson(res, 200, { "@odata.context": `${baseUrl}/$metadata#subscriptions/$entity`, ...answer } satisfies Subscription & { "@odata.context": string });
  }

  function checkSubscription(request: Subscription): string | undefined {
    if (!request.changeType || !request.changeType.split(",").every((type) => ["created", "updated", "deleted"].includes(type))) return "changeType is missing or invalid.";
    for (const url of [request.notificationUrl, request.lifecycleNotificationUrl]) {
      if (url === undefined || url === null) continue;
      const parsed = URL.canParse(url) ? new URL(url) : undefined;
      if (!parsed || (parsed.protocol !== "https:" && parsed.hostname !== "127.0.0.1")) return "The notification URL must use HTTPS.";
    }
    if (!request.notificationUrl) return "notificationUrl is required.";
    const expiresAt = Date.parse(request.expirationDateTime ?? "");
    if (Number.isNaN(expiresAt)) return "expirationDateTime is required.";
    if (expiresAt > now().getTime() + SUBSCRIPTION_MAX_MINUTES * 60_000) return `Subscription expiration can only be ${SUBSCRIPTION_MAX_MINUTES} minutes in the future.`;
    return undefined;
  }

  /** Any expiry under 45 minutes from now is raised to 45 minutes ("subscription resource type"). */
  function expiryOf(requested: string): string {
    return new Date(Math.max(Date.parse(requested), now().getTime() + SUBSCRIPTION_MIN_MINUTES * 60_000)).toISOString();
  }

  /** The validation POST: the endpoint must answer 200, text/plain, with exactly the token, within 10 s. */
  async function validates(url: string): Promise<boolean> {
    // Graph's tokens are sentences with spaces and colons: the endpoint must URL-decode them.
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
    const target = new URL(url);
    target.searchParams.set("validationToken", token);
    try {
      const response = await fetch(target, { method: "POST", headers: { "content-type": "text/plain; charset=utf-8" }, signal: AbortSignal.timeout(VALIDATION_TIMEOUT_MS) });
      const body = await response.text();
      return response.status === 200 && /^text\/plain\b/i.test(response.headers.get("content-type") ?? "") && body === token;
    } catch {
      return false;
    }
  }

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));

  return {
    baseUrl,
    addMailbox(address) {
      const key = address.toLowerCase();
      if (!mailboxes.has(key)) {
        mailboxes.set(key, {
          address: key, userId: randomUUID(), messages: [], grantedTo: new Set(), generation: 0,
          expiredAnswer: { status: 410, code: "syncStateNotFound" }, inFlight: 0, peak: 0, refusals: 0,
        });
      }
    },
    grant: (mailbox, user) => void stateOf(mailbox).grantedTo.add(user.toLowerCase()),
    revoke: (mailbox, user) => void stateOf(mailbox).grantedTo.delete(user.toLowerCase()),
    deliver: (mailbox, folder, mime, receivedAt = now()) => store(stateOf(mailbox), folder, Buffer.from(mime), receivedAt),
    remove(mailbox, messageId) {
      const message = stateOf(mailbox).messages.find((candidate) => candidate.id === messageId);
      if (message) message.removedSeq = ++seq;
    },
    messages: (mailbox, folder) => stateOf(mailbox).messages.filter((message) => message.folder === folder && message.removedSeq === undefined),
    sent,
    expireDeltaTokens(mailbox, answer = { status: 410, code: "syncStateNotFound" }) {
      const state = stateOf(mailbox);
      state.generation++;
      state.expiredAnswer = answer;
    },
    throttle: (...answers) => void throttles.push(...answers),
    failNextSendMail: (fault) => void sendFaults.push(fault),
    holdMimeAfterFirstChunk(messageId) {
      let open!: () => void;
      const hold = { holding: false, gate: new Promise<void>((resolve) => (open = resolve)), open: () => open() };
      firstChunkHolds.set(messageId, hold);
      return { isHolding: () => hold.holding, release: () => hold.open() };
    },
    holdMimeOf(mailbox) {
      const hold = { queue: [] as Array<() => void>, isOpen: false };
      mailboxHolds.set(mailbox.toLowerCase(), hold);
      return {
        waiting: () => hold.queue.length,
        releaseOne: () => hold.queue.shift()?.(),
        releaseAll: () => {
          hold.isOpen = true;
          for (const resume of hold.queue.splice(0)) resume();
        },
      };
    },
    inFlight: (mailbox) => stateOf(mailbox).inFlight,
    peakConcurrentRequests: (mailbox) => stateOf(mailbox).peak,
    concurrencyRefusals: (mailbox) => stateOf(mailbox).refusals,
    requests,
    subscriptions,
    notifications,
    sendLifecycleEvent(subscriptionId, event) {
      const subscription = subscriptions.get(subscriptionId);
      if (!subscription?.lifecycleNotificationUrl) throw new Error(`subscription ${subscriptionId} has no lifecycle URL`);
      return post(subscription.lifecycleNotificationUrl, subscriptionId, {
        value: [{
          subscriptionId,
          subscriptionExpirationDateTime: subscription.expirationDateTime!,
          tenantId: TENANT_ID,
          clientState: subscription.clientState ?? null,
          lifecycleEvent: event,
        }],
      });
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function headerText(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8" });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  const body: ODataErrorBody = {
    error: { code, message, innerError: { date: new Date().toISOString().slice(0, 19), "request-id": randomUUID(), "client-request-id": randomUUID() } },
  };
  sendJson(res, status, body);
}

/** The request body, or null when it is over Graph's 4 MB. */
async function readRequest(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson<T>(body: Buffer | null): T | undefined {
  try {
    const value: unknown = body ? JSON.parse(body.toString("utf8")) : undefined;
    return typeof value === "object" && value !== null ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

function encodeToken(token: DeltaToken): string {
  return Buffer.from(JSON.stringify(token)).toString("base64url");
}

function decodeToken(text: string): DeltaToken | undefined {
  try {
    return JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as DeltaToken;
  } catch {
    return undefined;
  }
}

/** An unfolded header of a MIME message's header block, or undefined. */
function headerOf(mime: Buffer, name: string): string | undefined {
  const end = mime.indexOf("\r\n\r\n");
  const head = mime.subarray(0, end === -1 ? Math.min(mime.length, 64 * 1024) : end).toString("latin1").replace(/\r?\n[ \t]+/g, " ");
  const line = head.split(/\r?\n/).find((candidate) => candidate.toLowerCase().startsWith(`${name}:`));
  return line?.slice(name.length + 1).trim();
}
