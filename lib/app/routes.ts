// The one route table: every URL the product answers, who may call it, its endpoint, and the
// platform functions that serve it. The local server builds its routes from it; each Vercel and
// Netlify function takes its endpoint from it by path. Netlify's `config` and Vercel's file tree and
// vercel.json are read statically by the platforms, so those files repeat the paths as literals;
// tests/app/routes.test.ts checks they equal this table.

import type { EndpointOptions, GuardedEndpoint } from "../http/endpoint.js";
import { cronEndpoint } from "../jobs/cron-endpoint.js";
import { scheduledHandler } from "../jobs/scheduled-handler.js";
import { OAUTH_CALLBACK_PATH, OAUTH_START_PATH, oauthCallbackEndpoint, oauthStartEndpoint } from "../oauth/oauth-endpoints.js";
import { CRON_STATUS_PATH, cronStatusEndpoint, HEALTH_PATH, healthEndpoint } from "../ops/ops-endpoints.js";
import { OPERATOR_PAGE_PATH, operatorPage } from "../ops/page/operator-page.js";
import { VONAGE_WEBHOOK_PATH, vonageWebhookEndpoint } from "../sms/sms-endpoints.js";
import { GMAIL_PUSH_MAX_DURATION_S, GMAIL_PUSH_PATH, gmailPushEndpoint } from "./gmail-push-endpoint.js";
import { GRAPH_NOTIFICATIONS_MAX_DURATION_S, GRAPH_NOTIFICATIONS_PATH, graphNotificationsEndpoint } from "./graph-notifications-endpoint.js";
import { JOBS, jobNamed } from "./job-registry.js";

export interface Route {
  path: string;
  /** Who may call it: what its endpoint checks before anything else. */
  caller: string;
  /** The Vercel function serving it (a file under api/; /admin reaches its own through a rewrite). */
  vercelFunction: string;
  /** Its `maxDuration` in vercel.json (the platform's default when absent). */
  maxDurationS?: number;
  /** The Netlify function serving it (netlify/functions/…, `config.path` = `path`). */
  netlifyFunction: string;
  endpoint(options?: EndpointOptions): GuardedEndpoint;
}

/** Every job's endpoint, at the path of its registry entry. */
const JOB_ROUTES: Route[] = JOBS.map((entry) => ({
  path: entry.path,
  caller: "the cron secret (Bearer or ?secret=)",
  vercelFunction: `${entry.path.slice(1)}.ts`,
  maxDurationS: entry.maxDurationS,
  netlifyFunction: `netlify/functions/${basename(entry.path)}.mts`,
  endpoint: (options) => cronEndpoint(entry.job, { maxDurationS: entry.maxDurationS, ...options }),
}));

/** Every route, jobs first. */
export const ROUTES: readonly Route[] = [
  ...JOB_ROUTES,
  {
    path: HEALTH_PATH,
    caller: "anyone: it says only whether the database answers and is migrated",
    vercelFunction: "api/health.ts",
    maxDurationS: 10,
    netlifyFunction: "netlify/functions/health.mts",
    endpoint: (options) => healthEndpoint(options),
  },
  {
    path: CRON_STATUS_PATH,
    caller: "the cron secret: it names failing mailboxes",
    vercelFunction: "api/cron/status.ts",
    maxDurationS: 30,
    netlifyFunction: "netlify/functions/cron-status.mts",
    endpoint: (options) => cronStatusEndpoint(JOBS, options),
  },
  {
    path: OPERATOR_PAGE_PATH,
    caller: "the operator, signed in with the cron secret (session cookie, forms bound to it)",
    vercelFunction: "api/admin.ts",
    maxDurationS: 60,
    netlifyFunction: "netlify/functions/operator-page.mts",
    endpoint: (options) => operatorPage(JOBS, options),
  },
  {
    path: OAUTH_START_PATH,
    caller: "the cron secret (to sign a link or start), or a browser holding a signed start link",
    vercelFunction: "api/integrations/oauth/start.ts",
    netlifyFunction: "netlify/functions/oauth-start.mts",
    endpoint: (options) => oauthStartEndpoint(options),
  },
  {
    path: OAUTH_CALLBACK_PATH,
    caller: "the browser the authorization was started in (state bound to its cookie)",
    vercelFunction: "api/integrations/oauth/callback.ts",
    netlifyFunction: "netlify/functions/oauth-callback.mts",
    endpoint: (options) => oauthCallbackEndpoint(options),
  },
  {
    path: GRAPH_NOTIFICATIONS_PATH,
    caller: "Microsoft Graph: its validation handshake, then notices carrying their subscription's clientState (stored hashed)",
    vercelFunction: "api/inbox/graph/notifications.ts",
    maxDurationS: GRAPH_NOTIFICATIONS_MAX_DURATION_S,
    netlifyFunction: "netlify/functions/graph-notifications.mts",
    endpoint: (options) => graphNotificationsEndpoint(options),
  },
  {
    path: GMAIL_PUSH_PATH,
    caller: "Google Cloud Pub/Sub: Gmail's notifications, each with an OIDC token signed by Google for the push subscription's service account and audience",
    vercelFunction: "api/inbox/gmail/push.ts",
    maxDurationS: GMAIL_PUSH_MAX_DURATION_S,
    netlifyFunction: "netlify/functions/gmail-push.mts",
    endpoint: (options) => gmailPushEndpoint(options),
  },
  {
    path: VONAGE_WEBHOOK_PATH,
    caller: "Vonage: a signed webhook, or SMS_WEBHOOK_SECRET in its URL",
    vercelFunction: "api/sms/vonage.ts",
    netlifyFunction: "netlify/functions/sms-vonage.mts",
    endpoint: (options) => vonageWebhookEndpoint(options),
  },
];

/** The Netlify scheduled function of each job (`config.schedule` = the entry's schedule). */
export const SCHEDULED_FUNCTIONS: readonly { job: string; schedule: string; netlifyFunction: string }[] = JOBS.map((entry) => ({
  job: entry.name,
  schedule: entry.schedule,
  netlifyFunction: `netlify/functions/${basename(entry.path)}-scheduled.mts`,
}));

/** Every route's endpoint by its path, built with `options` (a server's environment and database, a test's log sink). */
export function createRoutes(options: EndpointOptions = {}): Record<string, GuardedEndpoint> {
  return Object.fromEntries(ROUTES.map((route) => [route.path, route.endpoint(options)]));
}

/** The endpoint at `path`, reading process.env on each request (a platform function); throws for a path no route has. */
export function routeEndpoint(path: string): GuardedEndpoint {
  const route = ROUTES.find((r) => r.path === path);
  if (!route) throw new Error(`no route at ${path} in the route table`);
  return route.endpoint();
}

/** The platform scheduler's handler of the job named `name` (a Netlify scheduled function). */
export function scheduledJobEndpoint(name: string): GuardedEndpoint {
  const entry = jobNamed(name);
  return scheduledHandler(entry.job, entry.scheduledParams);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
