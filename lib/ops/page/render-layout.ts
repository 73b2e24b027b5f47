// The page shell (head, inline style, header with sign-out) and the form pieces every view uses.
// No script at all: every action is a plain POST form carrying the CSRF token. On a phone (an
// operator checks it on call) every table of class `cards` turns into one card per row, each cell
// named by its `data-label`, so no column and no button lies off-screen.

import { html, htmlDocument, rawHtml, type SafeHtml } from "../../http/html.js";
import type { RenderContext } from "./render-format.js";
import type { Flash } from "./session.js";

const STYLE = rawHtml(`
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;background:#f5f6f8;line-height:1.4}
body{margin:0 auto;max-width:1100px;padding:0 .75rem 3rem}
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.75rem 0}
h1{font-size:1.25rem;margin:0}h2{font-size:1.1rem;margin:1.75rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .4rem}
nav a{margin-right:.75rem}a{color:#1f5c99}
section,.card{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:.75rem;margin-bottom:.75rem}
.table{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .4rem;border-bottom:1px solid #eceff3;vertical-align:top}
th{font-weight:600;background:#fafbfc}
.flash{padding:.6rem .75rem;border-radius:6px;margin:.5rem 0;font-weight:500}
.ok{background:#e5f4ea;border:1px solid #9fd3b0}.error,.alert{background:#fdecea;border:1px solid #f0a8a0}
.alert{padding:.5rem .75rem;border-radius:6px;font-weight:600;margin:.4rem 0}
.badge{display:inline-block;padding:0 .4rem;border-radius:4px;font-size:.8rem;font-weight:600;white-space:nowrap}
.b-ok{background:#e5f4ea;color:#1e6b3a}.b-ko{background:#fdecea;color:#a02a1e}.b-off{background:#eceff3;color:#555}.b-warn{background:#fff3d6;color:#7a5400}
form.inline{display:inline}button{font:inherit;font-size:.85rem;padding:.25rem .6rem;margin:.1rem 0;border:1px solid #9aa6b6;border-radius:5px;background:#fff;cursor:pointer}
button.primary{background:#1f5c99;color:#fff;border-color:#1f5c99}
input,select{font:inherit;padding:.3rem .4rem;border:1px solid #9aa6b6;border-radius:5px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:.75rem}
figure.chart{margin:0}figcaption{font-size:.85rem;color:#555;margin-bottom:.2rem}
svg{width:100%;height:auto;display:block}svg .lbl{font-size:8px;fill:#444}svg .axis{stroke:#ccd2da;stroke-width:.5}
small,.muted{color:#5b6576}
.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center;margin-bottom:.5rem}
.filters input[type=search]{max-width:100%;min-width:0}
td,.flash{overflow-wrap:break-word}code,.detail{overflow-wrap:anywhere}button{white-space:nowrap}
.explain{font-size:.85rem}.detail{display:inline-block;margin-top:.15rem}
td.actions form{display:inline-block;margin:0 .25rem .25rem 0}
@media (max-width:700px){
.table{overflow-x:visible}
table.cards thead{display:none}
table.cards,table.cards tbody,table.cards tr,table.cards td{display:block;width:auto}
table.cards tr{border:1px solid #dde1e7;border-radius:6px;margin-bottom:.6rem;padding:.35rem .5rem}
table.cards td{border:0;padding:.2rem 0}
table.cards td[data-label]::before{content:attr(data-label) " : ";font-weight:600;color:#5b6576}
td.actions button{padding:.45rem .8rem}
}
`);

/** A whole page around `body`. */
export function renderPage(title: string, body: SafeHtml, header?: SafeHtml): SafeHtml {
  return htmlDocument(title, STYLE, html`<header><h1>${title}</h1>${header}</header>
<main>${body}</main>`);
}

/** The header of a signed-in page: the sections and a sign-out button. */
export function signedInHeader(ctx: RenderContext): SafeHtml {
  return html`<nav aria-label="Sections"><a href="#taches">Tâches</a><a href="#boites">Boîtes mail</a><a href="#relances">Relances</a><a href="#mis-de-cote">Mis de côté</a></nav>
${actionForm(ctx, "deconnexion", "Se déconnecter")}`;
}

/** The outcome of the last action, announced to screen readers too. */
export function renderFlash(flash: Flash | undefined): SafeHtml {
  return flash ? html`<p class="flash ${flash.tone}" role="status">${flash.text}</p>` : html``;
}

/** A one-button POST form for `action`, with the CSRF token and `fields` as hidden inputs. */
export function actionForm(ctx: RenderContext, action: string, label: string, fields: Record<string, string | number> = {}, isPrimary = false): SafeHtml {
  return html`<form class="inline" method="post" action="${ctx.basePath}">
<input type="hidden" name="csrf" value="${ctx.csrfToken}"><input type="hidden" name="action" value="${action}">
${Object.entries(fields).map(([name, value]) => html`<input type="hidden" name="${name}" value="${String(value)}">`)}
<button type="submit"${isPrimary ? rawHtml(' class="primary"') : ""}>${label}</button></form>`;
}
