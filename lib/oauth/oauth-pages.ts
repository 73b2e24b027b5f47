// The pages a person sees while connecting a mailbox with OAuth2, in French: the signed link's
// first page (which company, which provider, which shared mailbox if any), the confirmation after the
// provider's consent (which company, which address, and for a shared mailbox the account consenting),
// and the outcome. Readable on a phone, no script, never cached, never
// framed; they show no token, code or state.

import type { OAuthProviderName } from "../db/schema.js";
import { HttpError } from "../errors.js";
import { html, htmlDocument, rawHtml, type SafeHtml } from "../http/html.js";

const PROVIDER_LABELS: Record<OAuthProviderName, string> = { google: "Google", microsoft: "Microsoft", oidc: "votre fournisseur de messagerie" };

const STYLE = rawHtml(`
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f5f6f8;line-height:1.5}
body{margin:0 auto;max-width:34rem;padding:1.5rem 1rem 3rem}
main{background:#fff;border:1px solid #dde1e7;border-radius:10px;padding:1.25rem}
h1{font-size:1.3rem;margin:0 0 .75rem}p{margin:.6rem 0}
dl{display:grid;grid-template-columns:auto 1fr;gap:.35rem .75rem;margin:1rem 0;overflow-wrap:anywhere}dt{color:#5b6576}dd{margin:0;font-weight:600}
form{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:1.25rem}
button{font:inherit;padding:.7rem 1.1rem;border-radius:8px;border:1px solid #9aa6b6;background:#fff;cursor:pointer;flex:1 1 12rem}
button.primary{background:#1f5c99;border-color:#1f5c99;color:#fff;font-weight:600}
.muted{color:#5b6576;font-size:.9rem}
`);

/** The headers every one of these pages carries. */
const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  // The callback's address carries the provider's code and state: never stored, never sent onwards.
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  // No other site may frame the confirmation button (clickjacking).
  "x-frame-options": "DENY",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
};

/** A page answer with `status` and extra headers (`set-cookie`). */
export function pageResponse(status: number, title: string, body: SafeHtml, headers: Record<string, string> = {}): Response {
  const page = htmlDocument(title, STYLE, html`<main>
<h1>${title}</h1>
${body}
</main>`);
  return new Response(page.value, { status, headers: { ...PAGE_HEADERS, ...headers } });
}

/** A refusal or failure shown as a page (the endpoint's error mapping answers with `toResponse`). */
export class PageError extends HttpError {
  constructor(status: number, readonly title: string, text: string, headers: Record<string, string> = {}) {
    super(status, text, headers);
    this.name = "PageError";
  }

  override toResponse(): Response {
    return pageResponse(this.status, this.title, html`<p>${this.message}</p>`, this.headers);
  }
}

/** The signed link's page: nothing starts until the person presses the button (link scanners only GET). */
export function startPage(view: { companyName: string; provider: OAuthProviderName; mailboxAddress?: string | undefined; formAction: string }): Response {
  const provider = PROVIDER_LABELS[view.provider];
  const intro = view.mailboxAddress
    ? html`<p>Vous allez relier la boîte partagée <strong>${view.mailboxAddress}</strong> à <strong>${view.companyName}</strong> dans Lokario.</p>
<p>${capitalized(provider)} va vous demander de vous connecter avec votre propre compte, qui doit avoir accès à cette boîte partagée, et d'autoriser l'accès. Vous verrez ensuite la boîte et votre compte avant que quoi que ce soit soit enregistré.</p>`
    : html`<p>Vous allez relier une boîte mail à <strong>${view.companyName}</strong> dans Lokario.</p>
<p>${capitalized(provider)} va vous demander de vous connecter et d'autoriser l'accès à votre messagerie. Vous verrez ensuite l'adresse exacte avant que quoi que ce soit soit enregistré.</p>`;
  return pageResponse(200, "Connecter une boîte mail", html`
${intro}
<form method="post" action="${view.formAction}"><button type="submit" class="primary">Continuer avec ${provider}</button></form>
<p class="muted">Vous n'attendiez pas ce lien ? Fermez cette page : rien ne sera connecté.</p>`);
}

/** After consent: what is about to be connected, with the buttons that save it or drop it. */
export function confirmationPage(view: {
  companyName: string;
  emailAddress: string;
  consentingAccount: string;
  provider: OAuthProviderName;
  csrfToken: string;
  formAction: string;
}): Response {
  const field = (action: string, label: string, isPrimary: boolean) =>
    html`<button type="submit" name="action" value="${action}"${isPrimary ? rawHtml(' class="primary"') : ""}>${label}</button>`;
  const mailbox = view.consentingAccount === view.emailAddress
    ? html`<dt>Boîte mail</dt><dd>${view.emailAddress}</dd>`
    : html`<dt>Boîte partagée</dt><dd>${view.emailAddress}</dd><dt>Ouverte avec le compte</dt><dd>${view.consentingAccount}</dd>`;
  return pageResponse(200, "Confirmer la connexion", html`
<p>Vérifiez avant d'enregistrer :</p>
<dl>${mailbox}<dt>Entreprise</dt><dd>${view.companyName}</dd><dt>Via</dt><dd>${capitalized(PROVIDER_LABELS[view.provider])}</dd></dl>
<p>Les e-mails reçus et envoyés de cette boîte seront copiés dans la boîte de réception de <strong>${view.companyName}</strong>, et des relances automatiques pourront partir de cette adresse.</p>
<form method="post" action="${view.formAction}"><input type="hidden" name="csrf" value="${view.csrfToken}">
${field("confirm", "Connecter cette boîte mail", true)}${field("cancel", "Annuler", false)}</form>
<p class="muted">Ce n'est pas la bonne boîte ou la bonne entreprise ? Annulez : rien ne sera enregistré.</p>`);
}

/** The outcome of the confirmation. */
export function connectedPage(view: { companyName: string; emailAddress: string; isNew: boolean }, headers: Record<string, string>): Response {
  return pageResponse(200, "Boîte mail connectée", html`
<p>La boîte <strong>${view.emailAddress}</strong> est ${view.isNew ? "maintenant reliée" : "de nouveau reliée"} à <strong>${view.companyName}</strong>. Ses e-mails apparaîtront dans Lokario après la prochaine synchronisation.</p>
<p class="muted">Vous pouvez fermer cette page.</p>`, headers);
}

export function cancelledPage(headers: Record<string, string>): Response {
  return pageResponse(200, "Connexion annulée", html`<p>Rien n'a été enregistré. Vous pouvez fermer cette page, ou recommencer depuis Lokario.</p>`, headers);
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
