// What a client can make the local server hold: bodies are capped while they are read (on every
// route, whatever Content-Length says, chunked or not), and slow or idle connections are cut. Raw
// sockets against the real server: the attacker's bytes, not fetch's. The bound on what the server
// took is read from the client's side: once the server stops reading, TCP stops the client's writes,
// so the bytes the client managed to hand over stay near the cap plus the sockets' buffers.

import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_FORM_BODY_BYTES } from "../../lib/http/read-body.js";
import { type LocalServer, startLocalServer } from "../../server/local.js";
import { testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";

const SMS_WEBHOOK_SECRET = "sms-webhook-secret-0123456789abcdef0123";
/** What the attacker tries to send: the size of the body that took the server to 1 GB. */
const ATTACK_BYTES = 300 * 1024 * 1024;
/**
 * The most a client can push into a server that has stopped reading: the cap, plus its own send
 * buffer and the server's receive buffer (Linux grows them to a few MB on loopback), with margin.
 */
const MAX_ACCEPTED_BYTES = 32 * 1024 * 1024;
/** Small limits, so a test waits for the close in well under a second. */
const TEST_LIMITS = { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300 };

describe("local server request limits", () => {
  const database = useDatabase("pg");
  let server: LocalServer;
  let port: number;

  beforeAll(async () => {
    server = await startLocalServer({
      env: testEnv(database, { SMS_WEBHOOK_SECRET }),
      port: 0,
      isCronOn: false,
      limits: TEST_LIMITS,
    });
    port = Number(new URL(server.url).port);
  });
  afterAll(async () => {
    await server.close();
  });

  it("stops reading a 300 MB chunked POST to /admin (no cookie) at the form's cap: 413 or the connection closed, a few MB taken at most", async () => {
    const outcome = await pushBody(port, "POST /admin HTTP/1.1", ["Content-Type: application/x-www-form-urlencoded", "Transfer-Encoding: chunked"], "chunked");
    expect(outcome.status === 413 || outcome.status === undefined).toBe(true);
    expect(outcome.acceptedBytes).toBeGreaterThan(MAX_FORM_BODY_BYTES);
    expect(outcome.acceptedBytes).toBeLessThan(MAX_ACCEPTED_BYTES);
  });

  it("stops reading a 300 MB chunked JSON POST to the SMS webhook at its cap, secret or not", async () => {
    const outcome = await pushBody(port, `POST /api/sms/vonage?secret=${SMS_WEBHOOK_SECRET} HTTP/1.1`, ["Content-Type: application/json", "Transfer-Encoding: chunked"], "chunked");
    expect(outcome.status === 413 || outcome.status === undefined).toBe(true);
    expect(outcome.acceptedBytes).toBeLessThan(MAX_ACCEPTED_BYTES);
  });

  it("answers 413 to a Content-Length over the cap before any byte of the body, and closes the connection", async () => {
    const answer = await exchange(port, ["POST /admin HTTP/1.1", "Host: localhost", "Content-Type: application/x-www-form-urlencoded", `Content-Length: ${ATTACK_BYTES}`, "", ""].join("\r\n"));
    expect(answer.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.text).toMatch(/\r\nconnection: close\r\n/i);
  });

  it("never reads the body of a route that takes none: a 300 MB POST to the sync endpoint without the secret gets its 403 and the connection closed", async () => {
    const outcome = await pushBody(port, "POST /api/inbox/integrations/sync-all HTTP/1.1", ["Transfer-Encoding: chunked"], "chunked");
    expect(outcome.status === 403 || outcome.status === undefined).toBe(true);
    expect(outcome.acceptedBytes).toBeLessThan(MAX_ACCEPTED_BYTES);
  });

  it("still takes a form under the cap, sent in chunks, and keeps the connection open after answering it", async () => {
    const body = `action=connexion&secret=wrong`;
    const answer = await exchange(port, ["POST /admin HTTP/1.1", "Host: localhost", "Content-Type: application/x-www-form-urlencoded", "Transfer-Encoding: chunked", "", `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`].join("\r\n"), "</html>");
    expect(answer.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(answer.text).toMatch(/\r\nconnection: keep-alive\r\n/i);
  });

  it("cuts a body dribbled a byte at a time at the request timeout (408), however steady the dribble", async () => {
    const answer = await dribble(port, ["POST /admin HTTP/1.1", "Host: localhost", "Content-Type: application/x-www-form-urlencoded", "Content-Length: 1000", "", "a"].join("\r\n"), "b");
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("cuts headers dribbled a line at a time at the headers timeout (408)", async () => {
    const answer = await dribble(port, "GET /api/health HTTP/1.1\r\nHost: localhost\r\n", "X-Slow: 1\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("closes a connection that sends nothing at all", async () => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.on("close", () => resolve()));
  });

  it("accepts a bounded number of connections at once and closes the next on arrival; the others still get their answers", async () => {
    // Its own server, with the usual timeouts: the held connections must outlive the test's steps.
    const maxConnections = 3;
    const capped = await startLocalServer({ env: testEnv(database), port: 0, isCronOn: false, limits: { maxConnections } });
    try {
      const cappedPort = Number(new URL(capped.url).port);
      const held = await Promise.all(Array.from({ length: maxConnections }, () => openSocket(cappedPort)));
      const extra = connect({ host: "127.0.0.1", port: cappedPort });
      extra.on("error", () => {});
      let extraReceived = "";
      extra.on("data", (chunk: Buffer) => (extraReceived += chunk.toString("latin1")));
      await new Promise<void>((resolve) => extra.on("close", () => resolve()));
      expect(extraReceived).toBe("");
      for (const socket of held) {
        const answer = await exchangeOn(socket, "GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        expect(answer).toMatch(/^HTTP\/1\.1 200 /);
      }
    } finally {
      await capped.close();
    }
  });
});

interface PushOutcome {
  /** The answer's status, when one came back before the connection closed. */
  status?: number;
  /** Body bytes the socket took before it closed (or stopped taking any). */
  acceptedBytes: number;
}

/**
 * Sends `requestLine` and `headers`, then body bytes as fast as the socket takes them, up to
 * ATTACK_BYTES, until the server closes the connection. Never waits on a clock: a server that
 * stops reading makes `write` wait for a `drain` that only its closing ends.
 */
function pushBody(port: number, requestLine: string, headers: string[], framing: "chunked" | "raw"): Promise<PushOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const piece = Buffer.alloc(64 * 1024, "a");
    const frame = framing === "chunked" ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n")]) : piece;
    let received = "";
    let acceptedBytes = 0;
    let isClosed = false;
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    socket.on("error", () => {}); // ECONNRESET or EPIPE once the server has closed: what is expected
    socket.on("close", () => {
      isClosed = true;
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(received)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), acceptedBytes });
    });
    const push = () => {
      while (!isClosed && acceptedBytes < ATTACK_BYTES) {
        acceptedBytes += piece.length;
        if (!socket.write(frame)) {
          socket.once("drain", push);
          return;
        }
      }
      if (!isClosed) socket.end(framing === "chunked" ? "0\r\n\r\n" : "");
    };
    socket.on("connect", () => {
      socket.write([requestLine, "Host: localhost", ...headers, "", ""].join("\r\n"));
      push();
    });
  });
}

/** Writes `bytes`, then `drip` again each time the previous one was written, until the server closes; returns what it answered. */
function dribble(port: number, bytes: string, drip: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let received = "";
    let isClosed = false;
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => {
      isClosed = true;
      resolve(received);
    });
    // One drip per turn of the event loop's timers: steady traffic, never enough to finish the request.
    const next = () => {
      if (isClosed) return;
      socket.write(drip, () => setTimeout(next, 20));
    };
    socket.on("connect", () => socket.write(bytes, next));
  });
}

/** Sends `bytes` on a new connection and returns what came back once `until` was seen or the connection closed. */
async function exchange(port: number, bytes: string, until?: string): Promise<{ text: string }> {
  return { text: await exchangeOn(await openSocket(port), bytes, until) };
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

function exchangeOn(socket: Socket, bytes: string, until?: string): Promise<string> {
  return new Promise((resolve) => {
    let received = "";
    const finish = () => {
      socket.destroy();
      resolve(received);
    };
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (until !== undefined && received.includes(until)) finish();
    });
    socket.on("error", () => {});
    socket.on("close", finish);
    socket.write(bytes);
  });
}
