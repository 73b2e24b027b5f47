// The jobs: the last run of the schedule and, apart, the last one started by hand; the next
// expected run, a warning when the cron seems down, and the runs of the last 24 hours and 7 days as
// charts.

import { barChart } from "./charts.js";
import { html, type SafeHtml } from "../../http/html.js";
import { actionForm } from "./render-layout.js";
import { countOf, dateWithRelative, formatDuration, type RenderContext, triggerLabel } from "./render-format.js";
import type { JobActivity, LastRun, RunBucket } from "./read-job-activity.js";

export function renderJobs(jobs: JobActivity[], ctx: RenderContext): SafeHtml {
  return html`<h2 id="taches">Tâches planifiées</h2>
${jobs.map((job) => renderJob(job, ctx))}`;
}

function renderJob(job: JobActivity, ctx: RenderContext): SafeHtml {
  const { label, itemsLabel } = job;
  const last = job.lastRun;
  return html`<section aria-labelledby="job-${job.jobName}">
<h3 id="job-${job.jobName}">${label} <small>(planning <code>${job.schedule}</code>, heures UTC)</small></h3>
${job.isOverdue ? html`<p class="alert" role="alert">⚠ ${last
    ? `Aucun passage planifié depuis ${formatDuration(ctx.now.getTime() - last.startedAt.getTime())} alors que le planning en prévoyait un à ${ctx.dates.hour(job.nextExpectedAt!)} : le cron semble arrêté.`
    : "Aucun passage planifié n'a jamais eu lieu : le cron n'est pas en place."}
<br><small>Les passages lancés à la main (simulation, commande lokario-cron, bouton « Synchroniser ») ne comptent pas. Vérifiez le service qui appelle le cron (cron-job.org, Vercel Cron, Netlify) ou que <code>npm start</code> tourne avec son planificateur.</small></p>` : ""}
<p>Dernier passage planifié : ${last ? runLine(last, ctx) : "aucun"}<br>
${job.lastManualRun ? html`Dernier passage lancé à la main : ${runLine(job.lastManualRun, ctx)}<br>` : ""}
Prochain passage planifié attendu : ${dateWithRelative(job.nextExpectedAt, ctx)}</p>
${job.supportsDryRun ? html`<p>${actionForm(ctx, "simuler", "Simuler un passage (rien n'est envoyé)", { tache: job.jobName })}</p>` : ""}
<div class="charts">
${barChart(`Dernières 24 heures (par heure, ${ctx.dates.timeZone})`, job.lastDay.map((b) => ctx.dates.bareHour(b.startsAt)), rowsFor(job.lastDay, itemsLabel))}
${barChart("7 derniers jours (par jour)", job.lastWeek.map((b) => ctx.dates.day(b.startsAt)), rowsFor(job.lastWeek, itemsLabel))}
</div>
</section>`;
}

/** When, how it ended (in words, with the error's own text as detail), how long, and who started it. */
function runLine(run: LastRun, ctx: RenderContext): SafeHtml {
  return html`${dateWithRelative(run.startedAt, ctx)} — ${outcomeOf(run)}${run.durationMs !== null ? ` en ${formatDuration(run.durationMs)}` : ""} <small>(${triggerLabel(run.trigger)})</small>${run.error ? html`<br><small class="detail">Détail : ${run.error}</small>` : ""}`;
}

function outcomeOf(run: LastRun): SafeHtml {
  const failed = run.items && run.items.failed > 0 ? ` : ${countOf(run.items.failed, "échec")} sur ${countOf(run.items.attempted, "essai")}` : "";
  switch (run.status) {
    case "success":
      return html`<span class="badge b-ok">réussi</span>`;
    case "partial":
      return html`<span class="badge b-warn">réussi en partie</span>${failed}`;
    case "error":
      return failed ? html`<span class="badge b-ko">échec</span>${failed}` : html`<span class="badge b-ko">échec</span> : le passage s'est arrêté sur une erreur`;
    case "running":
      return html`<span class="badge b-warn">en cours</span>`;
    case "abandoned":
      return html`<span class="badge b-ko">interrompu</span> : le processus s'est arrêté sans noter la fin du passage`;
  }
}

function rowsFor(buckets: RunBucket[], itemsLabel: string) {
  const count = (n: number) => String(n);
  return [
    { label: "Passages planifiés", values: buckets.map((b) => b.runs), format: count, tone: "bleu" as const },
    { label: "Passages à la main", values: buckets.map((b) => b.manualRuns), format: count, tone: "bleu" as const },
    { label: "Durée max", values: buckets.map((b) => b.maxDurationMs), format: formatDuration, tone: "bleu" as const },
    { label: itemsLabel, values: buckets.map((b) => b.items), format: count, tone: "vert" as const },
    { label: "Échecs", values: buckets.map((b) => b.failures), format: count, tone: "rouge" as const },
  ];
}
