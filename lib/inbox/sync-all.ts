// The inbox sync job: claims the due IMAP integrations and imports their new mail.
// (Placeholder: the job is being built; it currently does nothing.)

import type { Job } from "../jobs/run-job.js";

export interface SyncParams {
  /** Sync only this integration, whether due or not (CLI `sync --integration ID`). */
  integrationId?: number;
}

export interface IntegrationFailure {
  integrationId: number;
  reason: string;
}

/** What one run of the inbox sync did. */
export interface SyncSummary {
  integrations: { attempted: number; succeeded: number; failed: number; skipped: number };
  messagesImported: number;
  failures: IntegrationFailure[];
  remaining: boolean;
}

export const syncAllJob: Job<SyncParams, SyncSummary> = {
  name: "inbox-sync",
  triggerLogLine: "🔄 Déclenchement de la synchronisation inbox via API...",
  successMessage: "Synchronisation inbox terminée avec succès",
  paramsFromQuery: () => ({}),
  run: async () => ({
    integrations: { attempted: 0, succeeded: 0, failed: 0, skipped: 0 },
    messagesImported: 0,
    failures: [],
    remaining: false,
  }),
};
