// The job endpoints, one per registry entry, by path. Vercel, Netlify, the local server and the tests
// all reach the jobs through these.

import { JOBS, jobNamed, type JobEntry } from "../jobs/registry.js";
import { cronEndpoint, type EndpointOptions, type GuardedEndpoint } from "./endpoint.js";
import { scheduledHandler } from "./scheduled-handler.js";

/** A web-standard request handler. */
export type Endpoint = (req: Request) => Promise<Response>;

/** Every job's endpoint by its path, built with `options` (a server's environment and database, a test's log sink). */
export function createEndpoints(options: EndpointOptions = {}, jobs: readonly JobEntry[] = JOBS): Record<string, GuardedEndpoint> {
  return Object.fromEntries(jobs.map((entry) => [entry.path, cronEndpoint(entry.job, { maxDurationS: entry.maxDurationS, ...options })]));
}

/** `GET|POST` on the path of the job named `name`, reading process.env on each request (a platform entry point). */
export function jobEndpoint(name: string): GuardedEndpoint {
  const entry = jobNamed(name);
  return cronEndpoint(entry.job, { maxDurationS: entry.maxDurationS });
}

/** The platform scheduler's handler of the job named `name` (a Netlify scheduled function). */
export function scheduledJobEndpoint(name: string): GuardedEndpoint {
  const entry = jobNamed(name);
  return scheduledHandler(entry.job, entry.scheduledParams);
}

/**
 * The endpoint under every method name a platform dispatches on. Vercel answers a method a function
 * does not export with its own plain-text 405; exporting them all lets our core answer every
 * method, with the JSON error and the `Allow` header.
 */
export function forEveryMethod(endpoint: Endpoint): Record<"GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS", Endpoint> {
  return { GET: endpoint, HEAD: endpoint, POST: endpoint, PUT: endpoint, PATCH: endpoint, DELETE: endpoint, OPTIONS: endpoint };
}
