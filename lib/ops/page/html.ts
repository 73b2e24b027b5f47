// The HTML template tag lives in lib/http/html.ts (the OAuth2 pages use it too); the operator's
// page imports it from here until its modules import it from there.
export { escapeHtml, html, rawHtml, SafeHtml } from "../../http/html.js";
