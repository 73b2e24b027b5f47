// The local server's answer to whatever a client can put on the wire: raw bytes over a socket, not
// fetch (which refuses to send most of these). Every request gets a 4xx or a documented answer,
// never a 500 for its own shape, and no error-level log line.

import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { LogLevel } from "../../lib/log.js";
import { type LocalServer, startLocalServer } from "../../server/local.js";
import { testEnv } from "../support/config.js";
import { useDatabase } from "../support/databases.js";

const ROUTES = ["/api/health", "/api/cron/status", "/api/inbox/integrations/sync-all", "/api/followups/process-automatic"];

describe("local server facing arbitrary requests", () => {
  const database = useDatabase("pglite");
  let server: LocalServer;
  let port: number;
  const logLevels: LogLevel[] = [];
  const errorLines: string[] = [];

  beforeAll(async () => {
    server = await startLocalServer({
      env: testEnv(database, { LOG_LEVEL: "info" }),
      port: 0,
      isCronOn: false,
      logSink: (line, level) => {
        logLevels.push(level);
        if (level === "error") errorLines.push(line);
      },
    });
    port = Number(new URL(server.url).port);
  });
  beforeEach(() => {
    errorLines.length = 0;
    logLevels.length = 0;
  });
  afterAll(async () => {
    await server.close();
  });

  /** Sends `head` as the request line and headers (CRLF added), returns the status of the answer. */
  const statusFor = (requestLine: string, headers: string[]) => sendRaw(port, [requestLine, ...headers, "Connection: close", "", ""].join("\r\n"));

  it("answers TRACE with 405 and the endpoint's Allow, as any other unsupported method", async () => {
    const answer = await sendRaw(port, "TRACE /api/inbox/integrations/sync-all HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", true);
    expect(answer.status).toBe(405);
    expect(answer.head).toMatch(/\r\nallow: GET, POST\r\n/i);
    expect(errorLines).toEqual([]);
  });

  it("answers CONNECT with 405 instead of dropping the connection", async () => {
    expect((await statusFor("CONNECT localhost:443 HTTP/1.1", ["Host: localhost:443"])).status).toBe(405);
  });

  it.each([
    ["a space", "a b"],
    ["an unclosed IPv6 bracket", "[::1"],
    ["a port out of range", "localhost:99999"],
    ["credentials", "user:password@localhost"],
    ["a lone percent sign", "%"],
  ])("answers 400, not 500, to a Host header with %s", async (_what, host) => {
    expect((await statusFor("GET /api/health HTTP/1.1", [`Host: ${host}`])).status).toBe(400);
    expect(errorLines).toEqual([]);
  });

  it("routes an absolute-form target by its path (RFC 9112 §3.2.2), and answers 400 when it holds credentials", async () => {
    expect((await statusFor("GET http://elsewhere.example/api/health HTTP/1.1", ["Host: localhost"])).status).toBe(200);
    expect((await statusFor("GET http://user:pw@elsewhere.example/api/health HTTP/1.1", ["Host: localhost"])).status).toBe(400);
    expect(errorLines).toEqual([]);
  });

  it("answers every generated method, target, Host and header with a 2xx-4xx and logs no error", async () => {
    const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}$/);
    const anyText = fc.string({ unit: "binary-ascii", maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ""));
    const method = fc.oneof(fc.constantFrom("GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "TRACK", "PATCH", "PURGE", "CONNECT"), token);
    const target = fc.oneof(
      fc.constantFrom(
        ...ROUTES, "*", "/", "//", "api/health", "/api//health", "//api/health", "//evil.example/api/health", "/api/%zz",
        "/api/health#x", "/api/inbox/integrations/sync-all?secret=%zz", "http://user:pw@elsewhere.example/api/health",
      ),
      fc.tuple(fc.constantFrom(...ROUTES), anyText).map(([route, tail]) => `${route}?${encodeURI(tail)}`),
      fc.tuple(fc.constantFrom("http://", "https://", "//", "/"), anyText, fc.constantFrom(...ROUTES)).map(([a, b, c]) => `${a}${b.replace(/ /g, "")}${c}`),
    );
    const host = fc.option(fc.oneof(fc.constantFrom("localhost", "[::1]", "a b", "x:99999", "u@h", ""), anyText), { nil: undefined });
    const header = fc.tuple(token, anyText).map(([name, value]) => `${name}: ${value}`);
    await fc.assert(
      fc.asyncProperty(method, target, host, fc.array(header, { maxLength: 4 }), async (m, t, h, extra) => {
        const headers = [...(h === undefined ? [] : [`Host: ${h}`]), ...extra.filter((line) => !/^(expect|content-length|transfer-encoding|connection|upgrade)\s*:/i.test(line))];
        const { status } = await statusFor(`${m} ${t} HTTP/1.1`, headers);
        expect(status).toBeGreaterThanOrEqual(200);
        expect(status).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
    expect(errorLines).toEqual([]);
    expect(logLevels).not.toContain("error");
  });
});

/** Writes raw bytes to the server and reads its answer's status line (and head when asked to wait for it). */
function sendRaw(port: number, bytes: string, isHeadWanted = false): Promise<{ status: number; head: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let received = "";
    const finish = () => {
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(received)?.[1]);
      socket.destroy();
      if (Number.isNaN(status)) reject(new Error(`no HTTP answer, got ${JSON.stringify(received.slice(0, 80))}`));
      else resolve({ status, head: received.split("\r\n\r\n")[0]! });
    };
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      if (received.includes(isHeadWanted ? "\r\n\r\n" : "\r\n")) finish();
    });
    socket.on("end", finish);
    socket.on("error", (err) => (received ? finish() : reject(err)));
    socket.write(Buffer.from(bytes, "latin1"));
  });
}
