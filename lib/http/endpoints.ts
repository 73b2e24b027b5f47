// The two cron endpoints of the product and the paths they answer on. Vercel, the local server
// and the tests all reach the jobs through these.

import { processAutomaticJob } from "../followups/process-automatic.js";
import { syncAllJob } from "../inbox/sync-all.js";
import { cronEndpoint, type EndpointOptions } from "./endpoint.js";

/** A web-standard request handler. */
export type Endpoint = (req: Request) => Promise<Response>;

export const SYNC_ALL_PATH = "/api/inbox/integrations/sync-all";
export const PROCESS_AUTOMATIC_PATH = "/api/followups/process-automatic";

/** Both endpoints by path, built with `options` (a server's environment and database, a test's log sink). */
export function createEndpoints(options: EndpointOptions = {}): Record<string, Endpoint> {
  return {
    [SYNC_ALL_PATH]: cronEndpoint(syncAllJob, options),
    [PROCESS_AUTOMATIC_PATH]: cronEndpoint(processAutomaticJob, options),
  };
}

/** `GET|POST /api/inbox/integrations/sync-all`, reading process.env on each request. */
export const syncAllEndpoint: Endpoint = cronEndpoint(syncAllJob);

/** `GET|POST /api/followups/process-automatic`, reading process.env on each request. */
export const processAutomaticEndpoint: Endpoint = cronEndpoint(processAutomaticJob);
