// The follow-ups (what leaves now, at the next window opening, why the others wait, uncertain and
// refused sends) and the messages the sync set aside.

import type { QuarantineEntry } from "../../inbox/reimport-quarantined.js";
import type { PlannedEmail } from "../../followups/process-automatic.js";
import { html, type SafeHtml } from "./html.js";
import { actionForm } from "./render-layout.js";
import { dateWithRelative, formatDate, reasonLabel, type RenderContext } from "./render-format.js";
import type { FollowupsView } from "./read-followups.js";

export function renderFollowups(view: FollowupsView, ctx: RenderContext): SafeHtml {
  const waiting = Object.entries(view.waitingByReason).sort((a, b) => b[1] - a[1]);
  const closing = Object.entries(view.wouldCloseByReason).sort((a, b) => b[1] - a[1]);
  return html`<h2 id="relances">Relances : ce qui part, ce qui attend</h2>
<section>
<h3>Partiraient maintenant (${view.sendNow.length})</h3>
${emailTable(view.sendNow)}
${view.nextOpening ? html`<h3>À la prochaine ouverture de la plage d'envoi, ${formatDate(view.nextOpening.at)} (${view.nextOpening.emails.length})</h3>
${emailTable(view.nextOpening.emails)}` : ""}
<h3>En attente, et pourquoi</h3>
${waiting.length === 0 ? html`<p>Aucune relance en attente.</p>` : html`<div class="table"><table><thead><tr><th scope="col">Raison</th><th scope="col">Relances</th></tr></thead><tbody>
${waiting.map(([code, n]) => html`<tr><td>${reasonLabel(code)} <small>(<code>${code}</code>)</small></td><td>${n}</td></tr>`)}
</tbody></table></div>`}
${closing.length ? html`<h3>Seraient closes sans envoi</h3><ul>${closing.map(([code, n]) => html`<li>${reasonLabel(code)} : ${n}</li>`)}</ul>` : ""}
<h3>Envois incertains (${view.uncertain.length})</h3>
${view.uncertain.length === 0 ? html`<p>Aucun.</p>` : html`<p class="muted">Le processus s'est arrêté après avoir confié l'e-mail au serveur SMTP. Cherchez le Message-ID dans le journal SMTP ou le dossier Envoyés, puis tranchez.</p>
<div class="table"><table><thead><tr><th scope="col">Envoi</th><th scope="col">Destinataire et objet</th><th scope="col">Message-ID</th><th scope="col">Décision</th></tr></thead><tbody>
${view.uncertain.map((a) => html`<tr><td>n° ${a.id}<br><small>relance ${a.followupId}, étape ${a.step}<br>${dateWithRelative(a.startedAt, ctx.now)}</small></td>
<td>${a.recipient}<br><small>${a.subject}</small></td><td><code>${a.messageId}</code></td>
<td>${actionForm(ctx, "envoi-fait", "Il est parti", { tentative: a.id })} ${actionForm(ctx, "envoi-non-fait", "Il n'est pas parti", { tentative: a.id })}</td></tr>`)}
</tbody></table></div>`}
<h3>Envois refusés (${view.refused.length})</h3>
${view.refused.length === 0 ? html`<p>Aucun.</p>` : html`<div class="table"><table><thead><tr><th scope="col">Envoi</th><th scope="col">Destinataire</th><th scope="col">Refus</th></tr></thead><tbody>
${view.refused.map((r) => html`<tr><td>n° ${r.id}<br><small>relance ${r.followupId}, étape ${r.step}, ${formatDate(r.finishedAt)}</small></td><td>${r.recipient}</td><td><small>${r.error ?? ""}</small></td></tr>`)}
</tbody></table></div>`}
</section>`;
}

export function renderSetAside(entries: QuarantineEntry[], ctx: RenderContext): SafeHtml {
  return html`<h2 id="mis-de-cote">Messages mis de côté (${entries.length})</h2>
<section>
${entries.length === 0 ? html`<p>Aucun message mis de côté.</p>` : html`<div class="table"><table>
<thead><tr><th scope="col">Message</th><th scope="col">Raison</th><th scope="col">Essais</th><th scope="col">Action</th></tr></thead><tbody>
${entries.map((e) => html`<tr><td>n° ${e.id}<br><small>boîte <a href="#boite-${e.integrationId}">n° ${e.integrationId}</a>, ${e.folder} UID ${e.uid}, ${e.sizeBytes ?? "?"} octets</small></td>
<td>${e.reason}</td><td>${e.attempts}<br><small>${dateWithRelative(e.updatedAt, ctx.now)}</small></td>
<td>${e.isRawStored ? actionForm(ctx, "reimporter", "Réimporter", { message: e.id }) : html`<small>contenu brut non conservé</small>`}</td></tr>`)}
</tbody></table></div>`}
</section>`;
}

function emailTable(emails: PlannedEmail[]): SafeHtml {
  if (emails.length === 0) return html`<p>Aucun e-mail.</p>`;
  return html`<div class="table"><table><thead><tr><th scope="col">Relance</th><th scope="col">Destinataire</th><th scope="col">Objet</th></tr></thead><tbody>
${emails.map((e) => html`<tr><td>n° ${e.followupId}, étape ${e.step}</td><td>${e.to}</td><td>${e.subject}</td></tr>`)}
</tbody></table></div>`;
}
