// What the endpoint tests share: the two endpoints as the api/ modules export them, the process
// environment they read (set per test), and the log lines they write (captured from stdout/stderr,
// where the real logger writes them on a platform).

import { count } from "drizzle-orm";
import { vi } from "vitest";
import * as processAutomaticModule from "../../api/followups/process-automatic.js";
import * as syncAllModule from "../../api/inbox/integrations/sync-all.js";
import type { Db } from "../../lib/db/client.js";
import { jobRuns } from "../../lib/db/schema.js";

export type ApiModule = typeof syncAllModule;

export interface EndpointCase {
  name: string;
  module: ApiModule;
  path: string;
  jobName: string;
  message: string;
  triggerLogLine: string;
  summaryFields: string[];
}

export const ENDPOINT_CASES: EndpointCase[] = [
  {
    name: "sync-all",
    module: syncAllModule,
    path: "/api/inbox/integrations/sync-all",
    jobName: "inbox-sync",
    message: "Synchronisation inbox terminée avec succès",
    triggerLogLine: "🔄 Déclenchement de la synchronisation inbox via API...",
    summaryFields: ["integrations", "messagesImported", "failures", "remaining", "durationMs"],
  },
  {
    name: "process-automatic",
    module: processAutomaticModule,
    path: "/api/followups/process-automatic",
    jobName: "followups",
    message: "Traitement des relances automatiques terminé avec succès",
    triggerLogLine: "🔄 Déclenchement du traitement des relances automatiques via API...",
    summaryFields: ["examined", "sent", "skipped", "failed", "remaining", "durationMs"],
  },
];

/** Every variable the endpoints read that a test controls; the others stay unset. */
const CONTROLLED_ENV = [
  "NODE_ENV", "VERCEL_ENV", "CRON_SECRET", "CRON_SECRET_NEXT", "DATABASE_URL", "DATABASE_DRIVER",
  "NEON_WEBSOCKET_PROXY", "ENCRYPTION_KEY", "LOG_LEVEL", "RUN_BUDGET_MS", "SMTP_HOST", "ALLOW_PRIVATE_MAIL_HOSTS", "MAIL_ALLOWED_PORTS",
  // What the platforms set in their functions, read to tell where the process runs.
  "VERCEL", "URL", "SITE_NAME", "SITE_ID",
];

/** Makes process.env exactly `env` for the controlled variables (undone by vi.unstubAllEnvs). */
export function useEnvironment(env: Record<string, string | undefined>): void {
  for (const name of CONTROLLED_ENV) vi.stubEnv(name, env[name]);
}

export interface CapturedLogs {
  lines(): string[];
  text(): string;
  restore(): void;
}

/** Captures what the process writes to stdout and stderr (the logger's default destination). */
export function captureProcessOutput(): CapturedLogs {
  const captured: string[] = [];
  const record = (chunk: unknown): boolean => {
    captured.push(typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString("utf8"));
    return true;
  };
  const spies = [
    vi.spyOn(process.stdout, "write").mockImplementation(record as typeof process.stdout.write),
    vi.spyOn(process.stderr, "write").mockImplementation(record as typeof process.stderr.write),
  ];
  return {
    lines: () => captured.join("").split("\n").filter((line) => line.length > 0),
    text: () => captured.join(""),
    restore: () => spies.forEach((spy) => spy.mockRestore()),
  };
}

/** How many runs the database has recorded (a refused request must not add one). */
export async function countRuns(db: Db): Promise<number> {
  const [row] = await db.select({ runs: count() }).from(jobRuns);
  return Number(row?.runs ?? 0);
}

/** A request to an endpoint path on a placeholder host, as a platform hands it over. */
export function requestTo(path: string, init: RequestInit & { query?: string } = {}): Request {
  const { query, ...rest } = init;
  return new Request(`https://lokario.example${path}${query ? `?${query}` : ""}`, rest);
}
