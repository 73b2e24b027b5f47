// The mailboxes: health, messages imported, filters (in the query string: only a state name) and a
// search posted as a form (what the operator types may be an address: it stays out of URLs).

import { html, type SafeHtml } from "./html.js";
import { actionForm } from "./render-layout.js";
import { dateWithRelative, formatDuration, type RenderContext } from "./render-format.js";
import { MAILBOX_FILTERS, type MailboxFilter, type MailboxHealth, MAILBOXES_SHOWN } from "./read-mailboxes.js";

const FILTER_LABELS: Record<MailboxFilter, string> = {
  toutes: "Toutes",
  "en-echec": "En échec",
  "a-reconnecter": "À reconnecter",
  desactivees: "Désactivées",
};

export function renderMailboxes(mailboxes: MailboxHealth[], view: { filter: MailboxFilter; search: string }, ctx: RenderContext): SafeHtml {
  return html`<h2 id="boites">Boîtes mail</h2>
<section>
<div class="filters">
<span>Afficher :</span>
${MAILBOX_FILTERS.map((f) => f === view.filter
    ? html`<strong aria-current="true">${FILTER_LABELS[f]}</strong>`
    : html`<a href="${ctx.basePath}?etat=${f}#boites">${FILTER_LABELS[f]}</a>`)}
<form method="post" action="${ctx.basePath}" role="search">
<input type="hidden" name="csrf" value="${ctx.csrfToken}"><input type="hidden" name="action" value="rechercher">
<input type="hidden" name="etat" value="${view.filter}">
<label for="recherche" class="muted">Rechercher</label>
<input id="recherche" name="recherche" type="search" value="${view.search}" placeholder="adresse, nom, entreprise" maxlength="100">
<button type="submit">OK</button></form>
</div>
${mailboxes.length === 0 ? html`<p>Aucune boîte${view.search ? " ne correspond à la recherche" : ""}.</p>` : html`<div class="table"><table>
<thead><tr><th scope="col">Boîte</th><th scope="col">État</th><th scope="col">Dernier succès</th><th scope="col">Prochain essai</th><th scope="col">Messages importés</th><th scope="col">Actions</th></tr></thead>
<tbody>
${mailboxes.map((m) => renderRow(m, ctx))}
</tbody></table></div>
${mailboxes.length >= MAILBOXES_SHOWN ? html`<p class="muted">Les ${MAILBOXES_SHOWN} premières seulement : précisez la recherche.</p>` : ""}`}
</section>`;
}

function renderRow(m: MailboxHealth, ctx: RenderContext): SafeHtml {
  return html`<tr id="boite-${m.id}">
<td><strong>${m.emailAddress ?? m.name ?? "(sans adresse)"}</strong><br><small>n° ${m.id} — ${m.companyName ?? `entreprise ${m.companyId}`}</small></td>
<td>${stateOf(m, ctx)}</td>
<td>${dateWithRelative(m.lastSuccessAt, ctx.now)}</td>
<td>${m.isActive ? html`${dateWithRelative(m.nextSyncAt ?? null, ctx.now)}${m.nextSyncAt === null ? "au prochain passage" : ""}${m.backoffMs !== null ? html`<br><small>attente ${formatDuration(m.backoffMs)} (${m.consecutiveFailures} échec(s) de suite)</small>` : ""}` : "—"}</td>
<td>${m.messagesImported} <small>(${m.messagesImportedLastDay} en 24 h)</small>${m.setAside ? html`<br><a href="#mis-de-cote">${m.setAside} mis de côté</a>` : ""}</td>
<td>
${m.isActive ? actionForm(ctx, "synchroniser", "Synchroniser", { integration: m.id }, true) : ""}
${m.isActive ? actionForm(ctx, "desactiver", "Désactiver", { integration: m.id }) : actionForm(ctx, "activer", "Activer", { integration: m.id })}
${m.stoppedFolder ? actionForm(ctx, "reinitialiser-dossier", `Réinitialiser ${m.stoppedFolder}`, { integration: m.id, dossier: m.stoppedFolder }) : ""}
</td>
</tr>`;
}

function stateOf(m: MailboxHealth, ctx: RenderContext): SafeHtml {
  if (!m.isActive) return html`<span class="badge b-off">désactivée</span>`;
  const badges: SafeHtml[] = [];
  if (m.needsReconnection) badges.push(html`<span class="badge b-warn">à reconnecter</span> `);
  if (m.consecutiveFailures > 0 || m.lastSyncError) {
    badges.push(html`<span class="badge b-ko">en échec</span>${m.failingSince ? html` depuis ${dateWithRelative(m.failingSince, ctx.now)}` : ""}`);
  } else if (m.lastSuccessAt) {
    badges.push(html`<span class="badge b-ok">OK</span>`);
  } else {
    badges.push(html`<span class="badge b-off">jamais synchronisée</span>`);
  }
  return html`${badges}${m.lastSyncError ? html`<br><small>${m.lastSyncError}</small>` : ""}`;
}
