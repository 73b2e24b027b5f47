// A real S3-API server for tests: s3rver (the file system behind the S3 REST API, signature V4
// checked, multipart uploads), started once per run by global-setup on a free loopback port; each
// test makes buckets of its own (s3-bucket.ts: a directory, as s3rver's own CreateBucket refuses the
// SDK's signature of a bucket path, whose trailing slash it drops). `startS3Front` puts an HTTP
// front before it that can misbehave on demand (refuse part N of a multipart upload or every
// request, hang up, hang, alter the bytes read back) and logs every request, as a store failing
// mid-import would.

import { mkdtempSync, rmSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import S3rver from "@20minutes/s3rver";
import account from "@20minutes/s3rver/lib/models/account.js";

/** The test server's key pair: distinctive, so a test can look for the secret in logs and errors. */
export const TEST_S3_ACCESS_KEY_ID = "LOKARIOTESTKEY7Q2Z";
export const TEST_S3_SECRET_ACCESS_KEY = "s3-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
export const TEST_S3_REGION = "us-east-1";

export interface S3Server {
  port: number;
  /** Where s3rver keeps its buckets: one directory each. */
  directory: string;
  stop(): Promise<void>;
}

/** Starts s3rver on a free loopback port, its objects in a fresh temporary directory. */
export async function startS3Server(): Promise<S3Server> {
  const directory = mkdtempSync(join(tmpdir(), "lokario-s3-"));
  account.DUMMY_ACCOUNT.createKeyPair(TEST_S3_ACCESS_KEY_ID, TEST_S3_SECRET_ACCESS_KEY);
  const server = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory });
  const { port } = await server.run();
  return {
    port,
    directory,
    stop: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** One request the front received. */
export interface S3Request {
  method: string;
  /** `/bucket/key`, decoded. */
  path: string;
  query: Record<string, string>;
  /** Whether it reached the server (false: the front refused it). */
  isForwarded: boolean;
}

export interface S3Front {
  port: number;
  /** Every request received, in order. */
  requests: S3Request[];
  /**
   * From now on, requests `matching` fail: `error` answers 500 InternalError (a store refusing),
   * `hang-up` closes the connection without an answer (a store going away), `stall` reads the
   * request and never answers (a store hanging).
   */
  refuse(matching: (r: S3Request) => boolean, how?: "error" | "hang-up" | "stall"): void;
  /** From now on, the bytes of objects read back come altered (one byte flipped). */
  alterReads(): void;
  /** From now on, each request waits for `hook` before it is forwarded (a test acting at that moment). */
  beforeForwarding(hook: ((r: S3Request) => Promise<void> | void) | null): void;
  /** Forward everything faithfully again, at once. */
  heal(): void;
  close(): Promise<void>;
}

/** The upload of part `n` of a multipart upload. */
export const isPart = (n: number) => (r: S3Request) => r.method === "PUT" && r.query.partNumber === String(n);
/** Any request. */
export const anyRequest = () => true;

/** Starts an HTTP front on a free loopback port towards the S3 server on `targetPort`. */
export async function startS3Front(targetPort: number): Promise<S3Front> {
  const requests: S3Request[] = [];
  const sockets = new Set<Socket>();
  let refusal: { matching: (r: S3Request) => boolean; how: "error" | "hang-up" | "stall" } | null = null;
  let isAlteringReads = false;
  let hook: ((r: S3Request) => Promise<void> | void) | null = null;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://front");
    const seen: S3Request = {
      method: req.method ?? "GET", path: decodeURIComponent(url.pathname), query: Object.fromEntries(url.searchParams), isForwarded: false,
    };
    requests.push(seen);
    if (refusal?.matching(seen)) {
      if (refusal.how === "hang-up") {
        req.socket.destroy();
        return;
      }
      req.resume();
      if (refusal.how === "stall") return;
      req.on("end", () => {
        res.writeHead(500, { "content-type": "application/xml" });
        res.end('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>');
      });
      return;
    }
    seen.isForwarded = true;
    const alter = isAlteringReads && seen.method === "GET";
    req.pause();
    void Promise.resolve(hook?.(seen)).then(() => forward(req, res, alter));
  });
  const forward = (req: IncomingMessage, res: ServerResponse, alter: boolean) => {
    const upstream = httpRequest({ host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (alter && answer.statusCode === 200) answer.pipe(flipFirstByte()).pipe(res);
      else answer.pipe(res);
    });
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  };
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    requests,
    refuse: (matching, how = "error") => {
      refusal = { matching, how };
    },
    alterReads: () => {
      isAlteringReads = true;
    },
    beforeForwarding: (next) => {
      hook = next;
    },
    heal: () => {
      refusal = null;
      isAlteringReads = false;
      hook = null;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function flipFirstByte(): Transform {
  let isFirst = true;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (isFirst && chunk.length > 0) {
        isFirst = false;
        const copy = Buffer.from(chunk);
        copy[0] = copy[0]! ^ 0xff;
        done(null, copy);
        return;
      }
      done(null, chunk);
    },
  });
}
