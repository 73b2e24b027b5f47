// The operator's page for tests: its portable handler behind a real node:http server (through the
// local server's own bridge), on a test database, with a clock the test moves.

import { JOBS } from "../../lib/app/job-registry.js";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { operatorPage } from "../../lib/ops/page/operator-page.js";
import { sendWebResponse, toWebRequest } from "../../server/node-http-bridge.js";
import { testEnv } from "../support/config.js";
import type { TestDatabase } from "../support/databases.js";

export interface PageServer {
  /** The page's URL, e.g. http://127.0.0.1:PORT/admin. */
  url: string;
  /** Moves the page's clock (sessions, throttling, relative dates). */
  advance(ms: number): void;
  close(): Promise<void>;
}

export async function startPageServer(database: TestDatabase, env: Record<string, string> = {}): Promise<PageServer> {
  let clockMs = Date.now();
  const handler = operatorPage(JOBS, { env: () => testEnv(database, env), db: database.db, now: () => new Date(clockMs) });
  const server: Server = createServer((req, res) => {
    void handler(toWebRequest(req, handler.methods)).then((response) => sendWebResponse(res, response));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin`,
    advance: (ms) => {
      clockMs += ms;
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A form POST as a browser sends it (no redirect following, so the answer itself is checked). */
export function postForm(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: "POST", body: new URLSearchParams(fields), headers, redirect: "manual" });
}

/** The `name=value` of a Set-Cookie answer, to send back in a Cookie header. */
export function cookieOf(response: Response): string {
  const header = response.headers.get("set-cookie");
  if (!header) throw new Error(`no Set-Cookie in the ${response.status} answer`);
  return header.split(";")[0]!;
}

/**
 * A form POST sent from `localAddress` (any 127.x.y.z reaches the loopback server on Linux), for
 * tests that need several clients the server tells apart by their socket address.
 */
export function postFormFrom(localAddress: string, url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  const body = new URLSearchParams(fields).toString();
  return new Promise((resolve, reject) => {
    const outgoing = request(url, {
      method: "POST", localAddress,
      headers: { "content-type": "application/x-www-form-urlencoded", "content-length": String(Buffer.byteLength(body)), ...headers },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => {
        const answerHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const item of Array.isArray(value) ? value : value === undefined ? [] : [value]) answerHeaders.append(name, item);
        }
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: answerHeaders }));
      });
      res.on("error", reject);
    });
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}
