// The jobs: last run, next expected run, a warning when the cron seems down, and the runs of the
// last 24 hours and 7 days as charts.

import { barChart } from "./charts.js";
import { html, type SafeHtml } from "./html.js";
import { actionForm } from "./render-layout.js";
import { dateWithRelative, formatDay, formatDuration, formatHour, type RenderContext } from "./render-format.js";
import type { JobActivity, RunBucket } from "./read-job-activity.js";

export function renderJobs(jobs: JobActivity[], ctx: RenderContext): SafeHtml {
  return html`<h2 id="taches">Tâches planifiées</h2>
${jobs.map((job) => renderJob(job, ctx))}`;
}

function renderJob(job: JobActivity, ctx: RenderContext): SafeHtml {
  const { label, itemsLabel } = job;
  const last = job.lastRun;
  return html`<section aria-labelledby="job-${job.jobName}">
<h3 id="job-${job.jobName}">${label} <small>(planning <code>${job.schedule}</code> UTC)</small></h3>
${job.isOverdue ? html`<p class="alert" role="alert">⚠ ${last
    ? `Aucun passage depuis ${formatDuration(ctx.now.getTime() - last.startedAt.getTime())} alors que le planning en prévoyait un à ${formatHour(job.nextExpectedAt!)} : le cron semble arrêté.`
    : "Cette tâche n'a jamais tourné : le cron n'est pas en place."}</p>` : ""}
<p>Dernier passage : ${last
    ? html`${dateWithRelative(last.startedAt, ctx.now)} — ${statusBadge(last.status)}${last.durationMs !== null ? ` en ${formatDuration(last.durationMs)}` : ""} <small>(${last.trigger})</small>${last.error ? html` — <span class="muted">${last.error}</span>` : ""}`
    : "aucun"}<br>
Prochain passage attendu : ${dateWithRelative(job.nextExpectedAt, ctx.now)}</p>
${job.supportsDryRun ? html`<p>${actionForm(ctx, "simuler", "Simuler un passage (rien n'est envoyé)", { tache: job.jobName })}</p>` : ""}
<div class="charts">
${barChart("Dernières 24 heures (par heure)", job.lastDay.map((b) => `${formatHour(b.startsAt)}`), rowsFor(job.lastDay, itemsLabel))}
${barChart("7 derniers jours (par jour)", job.lastWeek.map((b) => formatDay(b.startsAt)), rowsFor(job.lastWeek, itemsLabel))}
</div>
</section>`;
}

function rowsFor(buckets: RunBucket[], itemsLabel: string) {
  const count = (n: number) => String(n);
  return [
    { label: "Passages", values: buckets.map((b) => b.runs), format: count, tone: "bleu" as const },
    { label: "Durée max", values: buckets.map((b) => b.maxDurationMs), format: formatDuration, tone: "bleu" as const },
    { label: itemsLabel, values: buckets.map((b) => b.items), format: count, tone: "vert" as const },
    { label: "Échecs", values: buckets.map((b) => b.failures), format: count, tone: "rouge" as const },
  ];
}

function statusBadge(status: string): SafeHtml {
  if (status === "success") return html`<span class="badge b-ok">réussi</span>`;
  if (status === "running") return html`<span class="badge b-warn">en cours</span>`;
  return html`<span class="badge b-ko">échec</span>`;
}
