// The one list of the product's jobs: the path each answers on, its cron, the work, whether it can
// run dry, and how its runs are charted (the shape of an entry: lib/jobs/job-entry.ts). The route
// table, the Netlify and Vercel entry points, the `npm start` scheduler, the status, the operator
// page and the CLI all read it, so a third job is one entry here. (Netlify's `config` and
// vercel.json's crons are read statically by the platforms, so they repeat the path and schedule as
// literals; tests/app/routes.test.ts checks they equal these entries.)

import { type FollowupSummary, processAutomaticJob } from "../followups/process-automatic.js";
import { reasonText } from "../followups/reason-labels.js";
import { SYNC_ALL_PATH } from "../inbox/fan-out.js";
import { defineJob, type JobEntry } from "../jobs/job-entry.js";
import { inboxSyncJob } from "./inbox-sync-job.js";

export const INBOX_SYNC = defineJob({
  path: SYNC_ALL_PATH,
  schedule: "*/5 * * * *",
  job: inboxSyncJob,
  scheduledParams: {},
  maxDurationS: 60,
  label: "Synchronisation des boîtes mail",
  itemsLabel: "Messages importés",
  chart: (summary) => {
    const mailboxes = summary.integrations;
    return {
      items: summary.messagesImported ?? 0,
      attempted: mailboxes ? { attempted: mailboxes.attempted ?? 0, failed: mailboxes.failed ?? 0 } : null,
      failures: mailboxes?.failed ?? 0,
    };
  },
});

export const FOLLOWUPS = defineJob({
  path: "/api/followups/process-automatic",
  schedule: "0 * * * *",
  job: processAutomaticJob,
  scheduledParams: { isDryRun: false },
  dryRun: { params: { isDryRun: true }, describe: describeFollowupsDryRun },
  maxDurationS: 60,
  label: "Relances automatiques",
  itemsLabel: "Relances envoyées (e-mail et SMS)",
  chart: (summary) => ({
    items: summary.sent ?? 0,
    attempted: typeof summary.sent === "number" ? { attempted: summary.sent + (summary.failed ?? 0), failed: summary.failed ?? 0 } : null,
    failures: summary.failed ?? 0,
  }),
});

/** Every job, in the order the status and the page show them. */
export const JOBS: readonly JobEntry[] = [INBOX_SYNC, FOLLOWUPS];

/** The entry named `name` in `jobs`; throws for a name no entry has (a typo in an entry point). */
export function jobNamed(name: string, jobs: readonly JobEntry[] = JOBS): JobEntry {
  const entry = jobs.find((j) => j.name === name);
  if (!entry) throw new Error(`no job named ${name} in the registry`);
  return entry;
}

/** The simulation's outcome in the operator's words: emails and texts apart, reasons in French. */
function describeFollowupsDryRun(summary: FollowupSummary): string {
  const planned = summary.wouldSend ?? [];
  const texts = planned.filter((p) => p.channel === "sms").length;
  const leaving = [frenchCount(planned.length - texts, "e-mail"), ...(texts ? [frenchCount(texts, "SMS", "SMS")] : [])].join(" et ");
  const waiting = Object.entries(summary.skippedByReason).map(([reason, n]) => `${n} (${reasonText(reason).label})`).join(", ");
  return `Simulation : ${leaving} partiraient maintenant, ${frenchCount(summary.closed, "relance serait close", "relances seraient closes")}` +
    `${waiting ? ` ; en attente : ${waiting}` : ""}. Rien n'a été envoyé.`;
}

/** French counts: 0 and 1 take the singular. */
function frenchCount(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n <= 1 ? singular : plural}`;
}
