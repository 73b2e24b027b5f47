// The two cron endpoints of the product and the paths they answer on. Vercel, the local server
// and the tests all reach the jobs through these.

import { processAutomaticJob } from "../followups/process-automatic.js";
import { syncAllJob } from "../inbox/sync-all.js";
import { cronEndpoint, type EndpointOptions, type GuardedEndpoint } from "./endpoint.js";
import { PROCESS_AUTOMATIC_PATH, SYNC_ALL_PATH } from "./paths.js";

export { PROCESS_AUTOMATIC_PATH, SYNC_ALL_PATH };

/** A web-standard request handler. */
export type Endpoint = (req: Request) => Promise<Response>;

/** Both endpoints by path, built with `options` (a server's environment and database, a test's log sink). */
export function createEndpoints(options: EndpointOptions = {}): Record<string, GuardedEndpoint> {
  return {
    [SYNC_ALL_PATH]: cronEndpoint(syncAllJob, options),
    [PROCESS_AUTOMATIC_PATH]: cronEndpoint(processAutomaticJob, options),
  };
}

/** `GET|POST /api/inbox/integrations/sync-all`, reading process.env on each request. */
export const syncAllEndpoint: Endpoint = cronEndpoint(syncAllJob);

/** `GET|POST /api/followups/process-automatic`, reading process.env on each request. */
export const processAutomaticEndpoint: Endpoint = cronEndpoint(processAutomaticJob);

/**
 * The endpoint under every method name a platform dispatches on. Vercel answers a method a function
 * does not export with its own plain-text 405; exporting them all lets our core answer every
 * method, with the JSON error and the `Allow` header.
 */
export function forEveryMethod(endpoint: Endpoint): Record<"GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS", Endpoint> {
  return { GET: endpoint, HEAD: endpoint, POST: endpoint, PUT: endpoint, PATCH: endpoint, DELETE: endpoint, OPTIONS: endpoint };
}
