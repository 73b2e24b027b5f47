// The operator's page: one portable (Request) => Response handler, mounted at /admin by `npm start`
// and Netlify and at /api/admin (plus a rewrite from /admin) on Vercel. GET shows the page (or the
// sign-in form); every POST carries an `action` field: `connexion` signs in with the cron secret,
// the others need the session cookie and its CSRF token. Nothing private goes in a URL: the secret,
// the search and every id travel in POST bodies; the query string only names a mailbox filter.

import type { Config } from "../../config.js";
import { type Db, openDb } from "../../db/client.js";
import { DatabaseUnavailableError, HttpError } from "../../errors.js";
import { assertSecretConfigured, isAcceptedSecret } from "../../http/auth.js";
import { type EndpointOptions, guardedEndpoint } from "../../http/endpoint.js";
import { MAX_FORM_BODY_BYTES, readBodyText } from "../../http/read-body.js";
import { listQuarantine } from "../../inbox/reimport-quarantined.js";
import type { JobEntry } from "../../jobs/job-entry.js";
import type { Logger } from "../../log.js";
import { runOperatorAction } from "./actions.js";
import { html, type SafeHtml } from "../../http/html.js";
import { readFollowups } from "./read-followups.js";
import { readJobActivity } from "./read-job-activity.js";
import { MAILBOX_FILTERS, type MailboxFilter, readMailboxes } from "./read-mailboxes.js";
import { DateFormats, type RenderContext } from "./render-format.js";
import { renderFollowups, renderSetAside } from "./render-followups.js";
import { renderJobs } from "./render-jobs.js";
import { renderFlash, renderPage, signedInHeader } from "./render-layout.js";
import { renderMailboxes } from "./render-mailboxes.js";
import { PAGE_TITLE, renderSignIn } from "./render-sign-in.js";
import {
  createSession, FLASH_COOKIE, type Flash, flashCookieValue, isCsrfTokenValid, isSecureCookie, type OperatorSession,
  readFlash, readSession, SESSION_COOKIE, SESSION_TTL_MS, type SessionKeys, sessionKeysFor, type SessionState, setCookieHeader,
} from "./session.js";
import { isSessionOpen, recordSessionEnd, recordSessionStart } from "./session-store.js";
import { clearSignInFailures, clientKeyOf, recordSignInFailure, signInBlockedUntil } from "./sign-in-throttle.js";

export const OPERATOR_PAGE_PATH = "/admin";

const FLASH_MAX_AGE_MS = 60_000;

interface PageRequest {
  req: Request;
  config: Config;
  log: Logger;
  keys: SessionKeys;
  now: Date;
  basePath: string;
  db: Db;
  jobs: readonly JobEntry[];
}

/** The page's handler (GET, HEAD and POST) over the jobs of `jobs`, with a server's database and clock when given. */
export function operatorPage(jobs: readonly JobEntry[], options: EndpointOptions = {}) {
  return guardedEndpoint("endpoint:operator-page", ["GET", "HEAD", "POST"], options, async (req, { config, log }) => {
    assertSecretConfigured(config);
    const basePath = new URL(req.url).pathname;
    const keys = sessionKeysFor(config);
    if (!keys) {
      return htmlResponse(503, renderSignIn(basePath, { tone: "error", text: "CRON_SECRET n'est pas défini : cette page reste fermée. Définissez-le et redémarrez." }, true));
    }
    const form = req.method === "POST" ? await readForm(req) : undefined;
    const opened = options.db ? undefined : await openDb(config.database).catch((err: unknown) => {
      throw new DatabaseUnavailableError(err);
    });
    try {
      const page: PageRequest = { req, config, log, keys, now: options.now?.() ?? new Date(), basePath, db: options.db ?? opened!.db, jobs };
      if (!form) return await showPage(page, { filter: filterOf(req) });
      const action = String(form.get("action") ?? "");
      if (action === "connexion") return await signIn(page, form);
      const state = await readOpenSession(page);
      if (state.status !== "signed-in") {
        // No session (expired, or a request forged elsewhere): nothing runs; back to the sign-in form.
        return redirect(basePath);
      }
      const token = form.get("csrf");
      if (!isCsrfTokenValid(keys, state.session, typeof token === "string" ? token : undefined)) {
        log.warn("operator action refused: missing or wrong CSRF token", { action: action.slice(0, 40) });
        return htmlResponse(403, renderPage(PAGE_TITLE, html`<p class="flash error" role="alert">Requête refusée : jeton de sécurité absent ou invalide. Rien n'a été fait.</p><p><a href="${basePath}">Revenir à la page</a></p>`));
      }
      if (action === "deconnexion") {
        await recordSessionEnd(page.db, state.session.id);
        return redirect(basePath, setCookieHeader(SESSION_COOKIE, "", { maxAgeMs: 0, isSecure: isSecureCookie(req, config) }));
      }
      if (action === "rechercher") {
        const filter = MAILBOX_FILTERS.find((f) => f === form.get("etat")) ?? "toutes";
        return await showPage(page, { filter, search: String(form.get("recherche") ?? "").slice(0, 100), session: state.session });
      }
      const flash = await runOperatorAction(action, form, { db: page.db, config, log, now: () => options.now?.() ?? new Date(), jobs });
      log.info("operator action", { action: action.slice(0, 40), outcome: flash.tone });
      return redirect(basePath, setCookieHeader(FLASH_COOKIE, flashCookieValue(keys, flash, page.now), { maxAgeMs: FLASH_MAX_AGE_MS, isSecure: isSecureCookie(req, config) }));
    } finally {
      await opened?.close();
    }
  });
}

async function signIn(page: PageRequest, form: FormData): Promise<Response> {
  const { req, db, now, basePath, log, config } = page;
  const clientKey = clientKeyOf(req, config);
  const blockedUntil = await signInBlockedUntil(db, clientKey, now);
  if (blockedUntil) return tooManyAttempts(basePath, blockedUntil, now, config);
  const given = form.get("secret");
  if (!isAcceptedSecret(typeof given === "string" ? given.trim() : undefined, config)) {
    const nowBlockedUntil = await recordSignInFailure(db, clientKey, now);
    log.warn("operator sign-in refused: wrong secret", { isThrottled: nowBlockedUntil !== undefined });
    if (nowBlockedUntil) return tooManyAttempts(basePath, nowBlockedUntil, now, config);
    return htmlResponse(401, renderSignIn(basePath, { tone: "error", text: "Secret incorrect." }));
  }
  await clearSignInFailures(db, clientKey);
  const { cookieValue, session } = createSession(page.keys, now);
  await recordSessionStart(db, session, now);
  log.info("operator signed in");
  return redirect(basePath, setCookieHeader(SESSION_COOKIE, cookieValue, { maxAgeMs: SESSION_TTL_MS, isSecure: isSecureCookie(req, config) }));
}

async function showPage(page: PageRequest, view: { filter: MailboxFilter; search?: string; session?: OperatorSession }): Promise<Response> {
  const { req, keys, now, basePath, db, config, log } = page;
  const state = view.session ? { status: "signed-in" as const, session: view.session } : await readOpenSession(page);
  if (state.status !== "signed-in") {
    const notice = state.status === "expired" ? { tone: "error" as const, text: "Votre session a expiré : reconnectez-vous." } : undefined;
    return htmlResponse(200, renderSignIn(basePath, notice));
  }
  const flash: Flash | undefined = readFlash(req, keys, now);
  const ctx: RenderContext = { basePath, csrfToken: state.session.csrfToken, now, dates: new DateFormats(config.operatorTimeZone) };
  const [jobs, mailboxes, followups, setAside] = [
    await readJobActivity(db, now, page.jobs),
    await readMailboxes(db, { filter: view.filter, search: view.search, now }),
    await readFollowups(db, { config, log, now }),
    await listQuarantine(db),
  ];
  const body = html`${renderFlash(flash)}
${renderJobs(jobs, ctx)}
${renderMailboxes(mailboxes, { filter: view.filter, search: view.search ?? "" }, ctx)}
${renderFollowups(followups, ctx)}
${renderSetAside(setAside, ctx)}
<p class="muted">Page générée le ${ctx.dates.date(now)} (heures de ${ctx.dates.timeZone}) — session jusqu'à ${ctx.dates.hour(state.session.expiresAt)}.</p>`;
  // The flash is shown once: the same answer deletes its cookie.
  const clearFlash = flash ? setCookieHeader(FLASH_COOKIE, "", { maxAgeMs: 0, isSecure: isSecureCookie(req, config) }) : undefined;
  return htmlResponse(200, renderPage(PAGE_TITLE, body, signedInHeader(ctx)), clearFlash);
}

/** The request's session: its cookie must be good, and the session not signed out of since. */
async function readOpenSession(page: PageRequest): Promise<SessionState> {
  const state = readSession(page.req, page.keys, page.now);
  if (state.status !== "signed-in" || (await isSessionOpen(page.db, state.session.id, page.now))) return state;
  return { status: "none" };
}

function tooManyAttempts(basePath: string, until: Date, now: Date, config: Config): Response {
  const retryAfterS = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000));
  return htmlResponse(429, renderSignIn(basePath, { tone: "error", text: `Trop de secrets incorrects : réessayez après ${new DateFormats(config.operatorTimeZone).hour(until)}.` }), undefined, {
    "retry-after": String(retryAfterS),
  });
}

async function readForm(req: Request): Promise<FormData> {
  const type = req.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) throw new HttpError(415, "Expected a form (application/x-www-form-urlencoded)");
  const text = await readBodyText(req, MAX_FORM_BODY_BYTES);
  const form = new FormData();
  for (const [name, value] of new URLSearchParams(text)) form.append(name, value);
  return form;
}

function filterOf(req: Request): MailboxFilter {
  const asked = new URL(req.url).searchParams.get("etat");
  return MAILBOX_FILTERS.find((f) => f === asked) ?? "toutes";
}

/** Every page answer: HTML, never cached, never framed, no script allowed at all. */
function htmlResponse(status: number, body: SafeHtml, setCookie?: string, extra: Record<string, string> = {}): Response {
  const headers = new Headers({
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    ...extra,
  });
  if (setCookie) headers.append("set-cookie", setCookie);
  return new Response(body.value, { status, headers });
}

/** 303 See Other: after a POST, the browser GETs the page (a reload does not repeat the action). */
function redirect(location: string, setCookie?: string): Response {
  const headers = new Headers({ location, "cache-control": "no-store" });
  if (setCookie) headers.append("set-cookie", setCookie);
  return new Response(null, { status: 303, headers });
}
