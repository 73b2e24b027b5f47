// The local server (`npm start`): the same endpoint functions as on Vercel, behind node:http, on
// the configured database (embedded PGlite in ./.data/pglite by default), migrated at start.
// PGlite admits one process: while this server runs on it, the CLI must not use the same directory
// (both take a lock file beside it and say so), or both must point DATABASE_URL at PostgreSQL.
// It also runs every job of the registry on its cron, unless started with --no-cron.

import { realpathSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Duplex } from "node:stream";
import { pathToFileURL } from "node:url";
import { type Config, type DatabaseDriver, loadConfig } from "../lib/config.js";
import { closeAllDatabases, openDb, type OpenDb } from "../lib/db/client.js";
import { migrateDb } from "../lib/db/migrate.js";
import { createRoutes } from "../lib/app/routes.js";
import { type Scheduler, scheduledJobs, startScheduler } from "../lib/app/scheduler.js";
import { json } from "../lib/http/respond.js";
import { createLogger, type Logger, type LogSink } from "../lib/log.js";
import { HttpError, shortReason } from "../lib/errors.js";
import { pathForLog, refuseTunnel, sendWebResponse, toWebRequest } from "./node-http-bridge.js";
import { lockPgliteDirectory } from "./pglite-lock.js";

export interface LocalServerOptions {
  /** The environment (process.env by default). */
  env?: Record<string, string | undefined>;
  /** Overrides PORT; 0 picks a free port (tests). */
  port?: number;
  logSink?: LogSink;
  /** Run every job on its registry schedule in this process (default true; `--no-cron` turns it off). */
  isCronOn?: boolean;
  /** Overrides some of CONNECTION_LIMITS (tests use small values). */
  limits?: Partial<ConnectionLimits>;
}

/** What one client may hold of the server, and for how long. */
export interface ConnectionLimits {
  /** From the connection's first byte (or the previous answer) to the end of the request's headers. */
  headersTimeoutMs: number;
  /** From the same start to the end of the request's body. */
  requestTimeoutMs: number;
  /** An idle kept-alive connection between two requests. */
  keepAliveTimeoutMs: number;
  /** Connections open at once; past it, new ones are closed on arrival. */
  maxConnections: number;
}

/**
 * Short, because nothing legitimate needs more: every request this server takes is a bodiless ping
 * or a form or webhook of at most a few kilobytes. Node's own defaults (60 s for the headers, 300 s
 * for the request) let a client dribbling a byte every few seconds hold a connection five minutes.
 */
export const CONNECTION_LIMITS: ConnectionLimits = {
  // A request's head is a few hundred bytes, one packet from any real client even on a poor mobile link.
  headersTimeoutMs: 10_000,
  // 16 KB in 30 s is about 4 kbit/s: slower than any working link.
  requestTimeoutMs: 30_000,
  // Node's default: enough for a browser's next request on the operator's page.
  keepAliveTimeoutMs: 5_000,
  // Cron pings, webhooks and an operator's browser (6 connections) use a handful; the cap keeps one
  // client from exhausting the process's file descriptors (often 1024) with idle sockets.
  maxConnections: 256,
};

export interface LocalServer {
  /** Base URL, e.g. http://localhost:3000. */
  url: string;
  driver: DatabaseDriver;
  /** The in-process scheduler, unless turned off. */
  scheduler?: Scheduler;
  /** Stops accepting, lets running requests finish, closes the database. Idempotent. */
  close(): Promise<void>;
}

/** After running requests are done, how long idle keep-alive clients get before being cut. */
const SHUTDOWN_GRACE_MS = 5_000;

/** Opens and migrates the database, then serves every job endpoint and the other routes. */
export async function startLocalServer(options: LocalServerOptions = {}): Promise<LocalServer> {
  const env = options.env ?? process.env;
  const config = loadConfig(env);
  const log = createLogger("server", { sink: options.logSink, level: config.logLevel });
  const lock = lockPgliteDirectory(config.database, "npm start");
  let opened: OpenDb | undefined;
  try {
    opened = await openDb(config.database);
    await migrateDb(opened.db);
  } catch (err) {
    await opened?.close();
    await closeAllDatabases();
    lock.release();
    throw err;
  }
  const database = opened;
  const routes = createRoutes({ env: () => env, db: database.db, logSink: options.logSink });
  const inFlight = new Set<Promise<void>>();
  const limits = { ...CONNECTION_LIMITS, ...options.limits };
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above on this interval (30 s by default, which would double them).
      connectionsCheckingInterval: Math.max(10, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4)),
    },
    (req, res) => {
      const handling = serve(req, res).finally(() => inFlight.delete(handling));
      inFlight.add(handling);
    },
  );
  server.maxConnections = limits.maxConnections;
  // node:http's headers timeout starts with a request's first byte: a connection that sends nothing
  // at all would be kept for ever. It is closed after the same time if it sent no byte by then (its
  // own timer: a socket timeout set here is reset by node:http on some majors, and would also cut a
  // long, silent run once its request came).
  server.on("connection", (socket: Socket) => {
    const silent = setTimeout(() => socket.bytesRead === 0 && socket.destroy(), limits.headersTimeoutMs).unref();
    socket.once("close", () => clearTimeout(silent));
  });

  server.on("connect", (req: IncomingMessage, socket: Duplex) => {
    refuseTunnel(socket);
    log.info("request", { method: req.method, status: 405 });
  });

  /** The answer to one request: its endpoint's, or the bridge's 4xx when it cannot become a web Request. */
  async function answer(req: IncomingMessage, path: string): Promise<Response> {
    const endpoint = routes[path];
    if (!endpoint) return json(404, { success: false, error: `Not found: ${path}` });
    let request: Request;
    try {
      request = toWebRequest(req, endpoint.methods);
    } catch (err) {
      if (err instanceof HttpError) return err.toResponse();
      throw err;
    }
    return endpoint(request);
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedMs = performance.now();
    const path = pathForLog(req);
    let response: Response;
    try {
      response = await answer(req, path);
      await sendWebResponse(res, response);
    } catch (err) {
      // The endpoints answer their own errors; this is a failure of the bridge itself (client gone…).
      log.error("request failed", { method: req.method, path, error: shortReason(err) });
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ success: false, error: "Internal error: see the server logs" }));
      return;
    }
    log.info("request", { method: req.method, path, status: response.status, durationMs: Math.round(performance.now() - startedMs) });
  }

  const port = await listen(server, options.port ?? config.port);
  const url = `http://localhost:${port}`;
  log.info("listening", { url, routes: Object.keys(routes), driver: database.driver, database: describeDatabase(config) });
  const scheduler = options.isCronOn === false ? undefined : startScheduler(scheduledJobs(), { config, log, db: database.db });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // Scheduled runs stop taking work at their next safe point (end of a batch) and return.
      await scheduler?.stop();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([...inFlight]);
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await stopped;
      clearTimeout(force);
      await database.close();
      await closeAllDatabases();
      lock.release();
      log.info("stopped");
    })());
  return { url, driver: database.driver, scheduler, close };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, () => {
      server.off("error", reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Where the data lives, without credentials. */
function describeDatabase(config: Config): string {
  const { url, driver } = config.database;
  if (driver === "pglite") return url;
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}${parsed.port ? `:${parsed.port}` : ""}${parsed.pathname}`;
  } catch {
    return "(unparseable DATABASE_URL)";
  }
}

/** `npm start [-- --no-cron]`: serve (and run the schedule) until SIGTERM/SIGINT, then shut down cleanly. */
async function main(log: Logger): Promise<void> {
  let server: LocalServer;
  try {
    server = await startLocalServer({ isCronOn: !process.argv.includes("--no-cron") });
  } catch (err) {
    log.error("could not start", { error: shortReason(err) });
    process.exitCode = 1;
    return;
  }
  let isStopping = false;
  const stop = (signal: string) => {
    // systemd and npm may both forward the same SIGTERM: a repeat must not cut the clean shutdown.
    if (isStopping) {
      log.info("already shutting down", { signal });
      return;
    }
    isStopping = true;
    log.info("shutting down", { signal });
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error("shutdown failed", { error: shortReason(err) });
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

function isMainModule(): boolean {
  const script = process.argv[1];
  return script !== undefined && pathToFileURL(realpathSync(script)).href === import.meta.url;
}

if (isMainModule()) await main(createLogger("server"));
