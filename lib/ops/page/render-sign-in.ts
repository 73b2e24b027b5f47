// The sign-in form: the cron secret in a password field, posted (never in a URL).

import { html, type SafeHtml } from "../../http/html.js";
import { renderPage } from "./render-layout.js";

export const PAGE_TITLE = "Lokario — suivi des tâches";

/** The form, with why it is shown (expired session, wrong secret, throttled, closed). */
export function renderSignIn(basePath: string, notice?: { tone: "ok" | "error"; text: string }, isClosed = false): SafeHtml {
  const form = isClosed
    ? html``
    : html`<form method="post" action="${basePath}" class="card">
<input type="hidden" name="action" value="connexion">
<p><label for="secret">Secret des tâches (<code>CRON_SECRET</code>)</label><br>
<input id="secret" name="secret" type="password" autocomplete="current-password" required size="40" autofocus></p>
<p><button type="submit" class="primary">Se connecter</button></p>
</form>`;
  return renderPage(PAGE_TITLE, html`
${notice ? html`<p class="flash ${notice.tone}" role="alert">${notice.text}</p>` : ""}
${form}
<p class="muted">Réservé aux personnes qui exploitent Lokario. La session dure 8 heures.</p>`);
}
