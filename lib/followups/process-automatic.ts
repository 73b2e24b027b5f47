// The automatic follow-up job: sends the reminder emails that are due, exactly once each.
// (Placeholder: the job is being built; it currently does nothing.)

import type { Job } from "../jobs/run-job.js";

export interface FollowupParams {
  /** Report what would be sent, send and record nothing. */
  isDryRun: boolean;
}

/** What one run of the follow-up job did. */
export interface FollowupSummary {
  examined: number;
  sent: number;
  skipped: number;
  skippedByReason: Record<string, number>;
  failed: number;
  remaining: boolean;
}

export const processAutomaticJob: Job<FollowupParams, FollowupSummary> = {
  name: "followups",
  triggerLogLine: "🔄 Déclenchement du traitement des relances automatiques via API...",
  successMessage: "Traitement des relances automatiques terminé avec succès",
  paramsFromQuery: (query) => ({ isDryRun: ["1", "true", "yes"].includes(query.get("dry_run") ?? "") }),
  run: async () => ({ examined: 0, sent: 0, skipped: 0, skippedByReason: {}, failed: 0, remaining: false }),
};
