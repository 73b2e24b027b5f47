// The follow-ups (what leaves now, at the next window opening, why the others wait and what fixes
// it, uncertain and refused sends) and the messages the sync set aside, each with its button or
// command.

import { reasonText } from "../../followups/reason-labels.js";
import type { PlannedEmail } from "../../followups/process-automatic.js";
import type { QuarantineEntry } from "../../inbox/reimport-quarantined.js";
import { html, type SafeHtml } from "../../http/html.js";
import { actionForm } from "./render-layout.js";
import { countOf, dateWithRelative, type RenderContext, withDetail } from "./render-format.js";
import type { FollowupsView } from "./read-followups.js";

export function renderFollowups(view: FollowupsView, ctx: RenderContext): SafeHtml {
  const waiting = Object.entries(view.waitingByReason).sort((a, b) => b[1] - a[1]);
  const closing = Object.entries(view.wouldCloseByReason).sort((a, b) => b[1] - a[1]);
  return html`<h2 id="relances">Relances : ce qui part, ce qui attend</h2>
<section>
<h3>Partiraient maintenant (${view.sendNow.length})</h3>
${plannedTable(view.sendNow)}
${view.nextOpening ? html`<h3>À la prochaine ouverture de la plage d'envoi, le ${ctx.dates.date(view.nextOpening.at)} (${view.nextOpening.emails.length})</h3>
<p class="muted">Celles qui partent maintenant n'y figurent pas : elles seront parties.</p>
${plannedTable(view.nextOpening.emails)}` : ""}
<h3>En attente, et pourquoi</h3>
${waiting.length === 0 ? html`<p>Aucune relance en attente.</p>` : html`<div class="table"><table class="cards"><thead><tr><th scope="col">Raison</th><th scope="col">Relances</th><th scope="col">Que faire</th></tr></thead><tbody>
${waiting.map(([code, n]) => {
  const reason = reasonText(code);
  return html`<tr><td>${reason.label}</td><td data-label="Relances">${n}</td><td data-label="Que faire">${reason.fix ?? "rien : elle partira d'elle-même"}</td></tr>`;
})}
</tbody></table></div>`}
${renderQuotaWaits(view, ctx)}
${closing.length ? html`<h3>Seraient closes sans envoi au prochain passage</h3><ul>${closing.map(([code, n]) => html`<li>${reasonText(code).label} : ${n}</li>`)}</ul>` : ""}
<h3>Envois incertains (${view.uncertain.length})</h3>
${view.uncertain.length === 0 ? html`<p>Aucun.</p>` : html`<p class="muted">Le processus s'est arrêté après avoir confié l'envoi au serveur (SMTP ou SMS) : il est peut-être parti. Il ne sera pas renvoyé tout seul. Cherchez sa référence dans le journal du serveur ou le dossier Envoyés, puis tranchez avec les boutons (ou <code>lokario-cron followups resolve ID --sent</code> / <code>--not-sent</code>).</p>
<div class="table"><table class="cards"><thead><tr><th scope="col">Envoi</th><th scope="col">Destinataire et objet</th><th scope="col">Référence</th><th scope="col">Décision</th></tr></thead><tbody>
${view.uncertain.map((a) => html`<tr><td>n° ${a.id} (${a.channel === "sms" ? "SMS" : "e-mail"})<br><small>relance ${a.followupId}, étape ${a.step}<br>${dateWithRelative(a.startedAt, ctx)}</small></td>
<td data-label="Destinataire">${a.recipient}<br><small>${a.subject}</small></td><td data-label="Référence"><code>${a.messageId}</code></td>
<td class="actions">${actionForm(ctx, "envoi-fait", "Il est parti", { tentative: a.id })} ${actionForm(ctx, "envoi-non-fait", "Il n'est pas parti", { tentative: a.id })}</td></tr>`)}
</tbody></table></div>`}
<h3>Envois refusés (${view.refused.length})</h3>
${view.refused.length === 0 ? html`<p>Aucun.</p>` : html`<p class="muted">Refusés pour de bon par le serveur du destinataire ou l'opérateur SMS : ils ne sont pas réessayés et les étapes suivantes de ces relances attendent. Corrigez l'adresse ou le numéro du client dans l'application, puis relancez à la main.</p>
<div class="table"><table class="cards"><thead><tr><th scope="col">Envoi</th><th scope="col">Destinataire</th><th scope="col">Refus</th></tr></thead><tbody>
${view.refused.map((r) => html`<tr><td>n° ${r.id} (${r.channel === "sms" ? "SMS" : "e-mail"})<br><small>relance ${r.followupId}, étape ${r.step}, le ${ctx.dates.date(r.finishedAt)}</small></td><td data-label="Destinataire">${r.recipient}</td><td data-label="Refus">${withDetail("Refusé par le destinataire", r.error)}</td></tr>`)}
</tbody></table></div>`}
</section>`;
}

/** The sending accounts told by their provider to wait (a quota reached), and when the wait ends. */
function renderQuotaWaits(view: FollowupsView, ctx: RenderContext): SafeHtml {
  if (view.quotaWaits.length === 0) return html``;
  return html`<h3>Comptes d'envoi en attente de leur quota (${view.quotaWaits.length})</h3>
<p class="muted">Le fournisseur a répondu que ce compte avait assez envoyé (quota du jour, ou trop d'envois par minute) : ses relances restent à faire et partiront d'elles-mêmes après la fin de l'attente. Aucune n'est comptée refusée.</p>
<div class="table"><table class="cards"><thead><tr><th scope="col">Compte</th><th scope="col">Fin de l'attente</th><th scope="col">Réponse du fournisseur</th></tr></thead><tbody>
${view.quotaWaits.map((w) => html`<tr><td>${w.integrationId === null ? "serveur d'envoi global (SMTP_HOST)" : html`boîte <a href="#boite-${w.integrationId}">n° ${w.integrationId}</a>`}${w.companyId === null ? "" : html`<br><small>entreprise n° ${w.companyId}</small>`}</td>
<td data-label="Fin de l'attente">${dateWithRelative(w.until, ctx)}</td><td data-label="Réponse">${withDetail("Quota d'envoi atteint", w.reason)}</td></tr>`)}
</tbody></table></div>`;
}

export function renderSetAside(entries: QuarantineEntry[], ctx: RenderContext): SafeHtml {
  return html`<h2 id="mis-de-cote">Messages mis de côté (${entries.length})</h2>
<section>
${entries.length === 0 ? html`<p>Aucun message mis de côté.</p>` : html`<p class="muted">Ces messages n'ont pas pu être importés ; les autres l'ont été. Une fois la cause corrigée (une mise à jour, une limite de taille), « Réimporter » les importe depuis leur contenu conservé (ou <code>lokario-cron inbox reimport ID</code>).</p>
<div class="table"><table class="cards">
<thead><tr><th scope="col">Message</th><th scope="col">Raison</th><th scope="col">Essais</th><th scope="col">Action</th></tr></thead><tbody>
${entries.map((e) => html`<tr><td>n° ${e.id}<br><small>boîte <a href="#boite-${e.integrationId}">n° ${e.integrationId}</a>, ${e.folder} UID ${e.uid}, ${e.sizeBytes ?? "?"} octets</small></td>
<td data-label="Raison">${withDetail("Message impossible à importer", e.reason)}</td><td data-label="Essais">${e.attempts}<br><small>${dateWithRelative(e.updatedAt, ctx)}</small></td>
<td class="actions">${e.isRawStored ? actionForm(ctx, "reimporter", "Réimporter", { message: e.id }) : html`<small>contenu non conservé : le message reste lisible dans la boîte elle-même, mais ne peut pas être réimporté d'ici</small>`}</td></tr>`)}
</tbody></table></div>`}
</section>`;
}

function plannedTable(planned: PlannedEmail[]): SafeHtml {
  if (planned.length === 0) return html`<p>Aucune.</p>`;
  return html`<div class="table"><table class="cards"><thead><tr><th scope="col">Relance</th><th scope="col">Destinataire</th><th scope="col">Objet ou texte</th></tr></thead><tbody>
${planned.map((p) => html`<tr><td>n° ${p.followupId}, étape ${p.step}</td><td data-label="Destinataire">${p.to}</td><td data-label="Objet ou texte">${p.channel === "sms"
    ? html`SMS : « ${p.text ?? ""} »${p.segments ? html` <small>(${countOf(p.segments, "segment")})</small>` : ""}`
    : p.subject}</td></tr>`)}
</tbody></table></div>`;
}
