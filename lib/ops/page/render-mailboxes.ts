// The mailboxes: health, messages imported, filters (in the query string: only a state name) and a
// search posted as a form (what the operator types may be an address: it stays out of URLs).

import { html, type SafeHtml } from "../../http/html.js";
import { actionForm } from "./render-layout.js";
import { explainDelivery, explainMailbox, loginAndFolders } from "./explain-mailbox.js";
import { dateWithRelative, type RenderContext } from "./render-format.js";
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
${mailboxes.length === 0 ? html`<p>Aucune boîte${view.search ? " ne correspond à la recherche" : ""}.</p>` : html`<div class="table"><table class="cards">
<thead><tr><th scope="col">Boîte</th><th scope="col">État</th><th scope="col">Réception</th><th scope="col">Dernier succès</th><th scope="col">Prochain essai</th><th scope="col">Messages importés</th><th scope="col">Actions</th></tr></thead>
<tbody>
${mailboxes.map((m) => renderRow(m, ctx))}
</tbody></table></div>
${mailboxes.length >= MAILBOXES_SHOWN ? html`<p class="muted">Les ${MAILBOXES_SHOWN} premières seulement : précisez la recherche.</p>` : ""}`}
</section>`;
}

function renderRow(m: MailboxHealth, ctx: RenderContext): SafeHtml {
  const state = explainMailbox(m, ctx);
  return html`<tr id="boite-${m.id}">
<td><strong>${m.emailAddress ?? m.name ?? "(sans adresse)"}</strong><br><small>n° ${m.id} — ${m.companyName ?? `entreprise ${m.companyId}`}<br>${loginAndFolders(m)}</small></td>
<td data-label="État">${state.badge}${state.text.value ? html`<br><span class="explain">${state.text}</span>` : ""}</td>
<td data-label="Réception">${explainDelivery(m, ctx)}</td>
<td data-label="Dernier succès">${dateWithRelative(m.lastSuccessAt, ctx)}</td>
<td data-label="Prochain essai">${state.nextTry}</td>
<td data-label="Messages importés">${m.messagesImported} <small>(${m.messagesImportedLastDay} en 24 h)</small>${m.setAside ? html`<br><a href="#mis-de-cote">${m.setAside} mis de côté</a>` : ""}</td>
<td class="actions">
${m.state.isSyncableNow ? actionForm(ctx, "synchroniser", "Synchroniser", { integration: m.id }, true) : ""}
${m.isActive ? actionForm(ctx, "desactiver", "Désactiver", { integration: m.id }) : actionForm(ctx, "activer", "Activer", { integration: m.id })}
${m.state.code === "folder-stopped" && m.state.stoppedFolder ? actionForm(ctx, "reinitialiser-dossier", `Réinitialiser ${m.state.stoppedFolder}`, { integration: m.id, dossier: m.state.stoppedFolder }) : ""}
</td>
</tr>`;
}
