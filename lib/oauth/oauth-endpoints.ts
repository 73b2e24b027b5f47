// The endpoints the app uses to connect a mailbox with OAuth2:
//   GET /api/integrations/oauth/start?company=ID&provider=google|microsoft|oidc[&mailbox=ADDRESS][&via=imap|graph]&format=link
//     behind the cron secret (`mailbox`: a shared mailbox to connect, opened by the person consenting;
//     `via=graph`: read and sent through Microsoft Graph): answers JSON with a signed link (single-use, valid 15 minutes, or
//     `ttl_minutes` up to 60) on the configured public address, for the app to hand to the owner.
//     Without `format=link`, answers 302 to the provider and binds the flow to the caller.
//   GET  …/start?company&provider&expires&nonce&signature  (the signed link): a page naming the
//     company, whose button POSTs the link back; that POST spends the link, sets the browser-binding
//     cookie and answers 303 to the provider's consent page.
//   GET  /api/integrations/oauth/callback?code=…&state=…  where the provider sends the person back:
//     needs the browser-binding cookie; redeems the code and shows what is about to be connected.
//   POST /api/integrations/oauth/callback  (csrf, action=confirm|cancel): saves the mailbox, or not.
// The browser-facing answers are French pages (oauth-pages.ts); the app-facing ones JSON.

import { eq } from "drizzle-orm";
import { type Config, ConfigError } from "../config.js";
import { type Db, openDb } from "../db/client.js";
import { companies, OAUTH_PROVIDERS, type OAuthProviderName } from "../db/schema.js";
import { DatabaseUnavailableError, ERROR_KINDS, HttpError, JobError } from "../errors.js";
import { assertCronSecret } from "../http/auth.js";
import { type EndpointOptions, guardedEndpoint } from "../http/endpoint.js";
import { readBodyText } from "../http/read-body.js";
import { json } from "../http/respond.js";
import type { Logger } from "../log.js";
import {
  clearBrowserBinding, confirmationCsrfToken, isConfirmationCsrfTokenValid, newBrowserBinding, readBrowserBinding,
} from "./browser-binding.js";
import { cancelAuthorization, confirmAuthorization, holdForConfirmation } from "./confirm-authorization.js";
import { parseMailboxAddress } from "../mailbox-identity.js";
import { cancelledPage, confirmationPage, connectedPage, PageError, startPage } from "./oauth-pages.js";
import { AuthorizationRefusedError, redeemAuthorization } from "./redeem-authorization.js";
import { type ConnectTransport, oauthProvider, parseConnectTransport } from "./providers.js";
import { startAuthorization } from "./start-authorization.js";
import { isStartLinkSpent, MAX_START_LINK_TTL_MS, readStartLink, signStartLink, spendStartLink, START_LINK_TTL_MS, startLinkQuery } from "./start-link.js";

export const OAUTH_START_PATH = "/api/integrations/oauth/start";
export const OAUTH_CALLBACK_PATH = "/api/integrations/oauth/callback";

/** The confirmation form is two short fields. */
const MAX_CONFIRMATION_FORM_BYTES = 2048;

/** `/api/integrations/oauth/start`. */
export function oauthStartEndpoint(options: EndpointOptions = {}) {
  return guardedEndpoint("endpoint:oauth-start", ["GET", "POST"], options, async (req, { config, log }) => {
    const query = new URL(req.url).searchParams;
    const now = options.now?.() ?? new Date();
    if (query.has("signature")) return startFromLink(req, query, { config, log, now, db: options.db });
    if (req.method !== "GET") throw new HttpError(405, "Method POST is for signed links only: use GET", { allow: "GET" });
    assertCronSecret(req, config, log);
    const companyId = Number(query.get("company"));
    const provider = query.get("provider") as OAuthProviderName;
    if (!Number.isSafeInteger(companyId) || companyId <= 0) throw new HttpError(400, "company must be a company id");
    if (!OAUTH_PROVIDERS.includes(provider)) throw new HttpError(400, `provider must be one of ${OAUTH_PROVIDERS.join(", ")}`);
    const mailboxAddress = parseMailboxAddress(query.get("mailbox"));
    if (query.has("mailbox") && !mailboxAddress) throw new HttpError(400, "mailbox must be an email address (the shared mailbox to connect)");
    const transport = query.has("via") ? asJsonErrorsNow(() => parseConnectTransport(oauthProvider(config, provider), query.get("via"))) : undefined;
    const startUrl = configuredStartUrl(config);

    if (query.get("format") === "link") {
      const ttlMs = linkTtlMs(query.get("ttl_minutes"));
      const expiresAt = new Date(now.getTime() + ttlMs);
      startUrl.search = signStartLink(config, { companyId, provider, expiresAt, mailboxAddress, transport }).toString();
      return json(200, { success: true, link: startUrl.href, expiresAt: expiresAt.toISOString() });
    }
    return asJsonErrors(() => withDb(config, options.db, (db) => beginAuthorization(db, config, { companyId, provider, mailboxAddress, transport, now, status: 302, log })));
  });
}

/** `/api/integrations/oauth/callback`: the provider's redirect back (GET), and the confirmation (POST). */
export function oauthCallbackEndpoint(options: EndpointOptions = {}) {
  return guardedEndpoint("endpoint:oauth-callback", ["GET", "POST"], options, async (req, { config, log }) => {
    const now = options.now?.() ?? new Date();
    return asPages(log, async () => {
      const binding = readBrowserBinding(config, req, now);
      if (!binding) {
        // A redirect opened in a browser that did not start this connection: a forwarded consent
        // link, or an attempt to attach someone else's mailbox. Nothing is read or spent.
        log.warn("oauth callback refused: no browser binding cookie");
        throw refusalPage("other-browser");
      }
      if (req.method === "GET") {
        return withDb(config, options.db, async (db) => {
          const redeemed = await redeemAuthorization(db, config, new URL(req.url), binding.hash, now);
          await holdForConfirmation(db, config, redeemed, now);
          log.info("oauth authorization waiting for confirmation", { companyId: redeemed.companyId, provider: redeemed.provider });
          return confirmationPage({
            companyName: redeemed.companyName,
            emailAddress: redeemed.emailAddress,
            consentingAccount: redeemed.consentingAccount,
            provider: redeemed.provider,
            csrfToken: confirmationCsrfToken(config, binding),
            formAction: new URL(callbackUrl(config)).pathname,
          });
        });
      }
      const form = await readForm(req, MAX_CONFIRMATION_FORM_BYTES);
      if (!isConfirmationCsrfTokenValid(config, binding, form.get("csrf") ?? undefined)) {
        log.warn("oauth confirmation refused: CSRF token missing or wrong");
        throw new PageError(403, "Formulaire refusé", "Ce formulaire ne vient pas de cette page de connexion. Recommencez la connexion depuis Lokario.");
      }
      const endCookie = { "set-cookie": clearBrowserBinding(config) };
      const action = form.get("action");
      if (action === "cancel") {
        await withDb(config, options.db, (db) => cancelAuthorization(db, binding.hash, now));
        log.info("oauth connection cancelled by the person");
        return cancelledPage(endCookie);
      }
      if (action !== "confirm") throw new PageError(400, "Demande incomplète", "Choisissez « Connecter cette boîte mail » ou « Annuler ».");
      const connected = await withDb(config, options.db, (db) => confirmAuthorization(db, config, binding.hash, now));
      log.info("oauth mailbox connected", { integrationId: connected.integrationId, companyId: connected.companyId, isNew: connected.isNew });
      return connectedPage(connected, endCookie);
    });
  });
}

/** The signed link, opened (GET: the page with the button) or followed (POST: spent, then to the provider). */
async function startFromLink(
  req: Request,
  query: URLSearchParams,
  ctx: { config: Config; log: Logger; now: Date; db?: Db },
): Promise<Response> {
  const { config, log, now } = ctx;
  return asPages(log, async () => {
    const link = readStartLink(config, query, now);
    if (!link) {
      log.warn("oauth start link refused: bad signature or expired");
      throw new PageError(403, "Lien invalide ou expiré",
        "Ce lien de connexion n'est pas valide ou a expiré : il ne reste valable que quelques minutes. Demandez-en un nouveau dans Lokario.");
    }
    configuredStartUrl(config);
    return withDb(config, ctx.db, async (db) => {
      const [company] = await db.select({ name: companies.name }).from(companies).where(eq(companies.id, link.companyId));
      if (!company) throw new PageError(404, "Entreprise introuvable", "L'entreprise de ce lien n'existe plus dans Lokario.");
      if (req.method === "GET") {
        if (await isStartLinkSpent(db, link)) throw spentLinkPage();
        return startPage({ companyName: company.name, provider: link.provider, mailboxAddress: link.mailboxAddress, formAction: `?${startLinkQuery(query)}` });
      }
      const started = await beginAuthorization(db, config, {
        companyId: link.companyId, provider: link.provider, mailboxAddress: link.mailboxAddress, transport: link.transport, now, status: 303, log,
      });
      // Spent once the authorization is ready, so a provider that cannot be reached does not burn the link.
      if (!(await spendStartLink(db, link, now))) {
        log.warn("oauth start link refused: already used", { companyId: link.companyId });
        throw spentLinkPage();
      }
      return started;
    });
  });
}

/** Records a new authorization bound to the caller's browser, and sends the browser to the provider. */
async function beginAuthorization(
  db: Db,
  config: Config,
  request: {
    companyId: number;
    provider: OAuthProviderName;
    mailboxAddress: string | undefined;
    transport?: ConnectTransport | undefined;
    now: Date;
    status: 302 | 303;
    log: Logger;
  },
): Promise<Response> {
  const { binding, setCookie } = newBrowserBinding(config, request.now);
  const start = await startAuthorization(db, config, {
    companyId: request.companyId,
    provider: request.provider,
    mailboxAddress: request.mailboxAddress,
    ...(request.transport ? { transport: request.transport } : {}),
    redirectUri: callbackUrl(config),
    now: request.now,
    browserBindingHash: binding.hash,
  });
  request.log.info("oauth authorization started", { companyId: request.companyId, provider: request.provider, isSharedMailbox: request.mailboxAddress !== undefined, transport: request.transport ?? "imap" });
  return new Response(null, {
    status: request.status,
    headers: { location: start.url, "set-cookie": setCookie, "cache-control": "no-store", "referrer-policy": "no-referrer" },
  });
}

/** The configured callback; links and redirects are never built from the request's Host. */
function callbackUrl(config: Config): string {
  const url = config.oauth.redirectUrl;
  if (!url) throw new HttpError(503, "PUBLIC_BASE_URL (or OAUTH_REDIRECT_URL) is not configured: OAuth2 links are built from it, never from the request");
  return url;
}

/** The start endpoint's public address: the callback's, with the start path in place of the callback's. */
function configuredStartUrl(config: Config): URL {
  const url = new URL(callbackUrl(config));
  const prefix = url.pathname.endsWith(OAUTH_CALLBACK_PATH) ? url.pathname.slice(0, -OAUTH_CALLBACK_PATH.length) : "";
  return new URL(`${prefix}${OAUTH_START_PATH}`, url.origin);
}

function linkTtlMs(text: string | null): number {
  if (text === null) return START_LINK_TTL_MS;
  const minutes = Number(text);
  const maxMinutes = MAX_START_LINK_TTL_MS / 60_000;
  if (!/^\d{1,3}$/.test(text) || minutes < 1 || minutes > maxMinutes) throw new HttpError(400, `ttl_minutes must be a whole number from 1 to ${maxMinutes}`);
  return minutes * 60_000;
}

function spentLinkPage(): PageError {
  return new PageError(403, "Lien déjà utilisé", "Ce lien de connexion a déjà servi : il ne fonctionne qu'une fois. Demandez-en un nouveau dans Lokario.");
}

/** The page for a refusal of the person's request. */
function refusalPage(refusal: AuthorizationRefusedError["refusal"]): PageError {
  const again = "Recommencez la connexion depuis Lokario.";
  switch (refusal) {
    case "other-browser":
      return new PageError(403, "Ouvrez la connexion dans le même navigateur",
        `Cette connexion a été commencée dans un autre navigateur, ou ses cookies ont été effacés. Par sécurité, une boîte mail ne peut être connectée que dans le navigateur qui a ouvert le lien. ${again}`);
    case "used":
      return new PageError(400, "Connexion déjà traitée", `Cette étape a déjà été faite. ${again}`);
    case "denied-at-provider":
      return new PageError(400, "Accès non accordé", `L'accès à la boîte mail n'a pas été accordé : rien n'a été connecté. ${again}`);
    case "no-state":
    case "no-code":
    case "unknown":
    case "expired":
      return new PageError(400, "Connexion expirée", `Cette demande de connexion n'existe plus ou a expiré (elle reste valable quelques minutes). ${again}`);
  }
}

/** Runs a browser-facing step; every failure becomes a French page (details only in the log). */
async function asPages(log: Logger, step: () => Promise<Response>): Promise<Response> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof PageError) throw err;
    if (err instanceof AuthorizationRefusedError) {
      log.warn("oauth connection refused", { refusal: err.refusal, error: err.message });
      throw refusalPage(err.refusal);
    }
    if (err instanceof JobError) {
      log[ERROR_KINDS[err.kind].level]("oauth connection failed", { kind: err.kind, error: err.message });
      const { status } = ERROR_KINDS[err.kind];
      if (err.kind === "transient") throw new PageError(status, "Fournisseur injoignable", "Le fournisseur de messagerie n'a pas répondu. Réessayez dans quelques minutes depuis Lokario.");
      if (err.kind === "auth") throw new PageError(status, "Accès refusé par le fournisseur", "Le fournisseur de messagerie a refusé l'accès. Recommencez la connexion depuis Lokario.");
      throw new PageError(status, "Connexion impossible", "La boîte mail n'a pas pu être connectée. L'équipe Lokario a les détails de l'erreur.");
    }
    if (err instanceof HttpError) {
      log.warn("oauth request refused", { status: err.status, error: err.message });
      throw new PageError(err.status, "Demande refusée", "Cette demande n'a pas pu être traitée. Recommencez la connexion depuis Lokario.", err.headers);
    }
    if (err instanceof ConfigError || err instanceof DatabaseUnavailableError) {
      log.error("oauth connection unavailable", { error: err.message });
      throw new PageError(503, "Service indisponible", "Le service de connexion est momentanément indisponible. Réessayez plus tard.");
    }
    throw err;
  }
}

/** `asJsonErrors` for a step with nothing to wait for. */
function asJsonErrorsNow<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof JobError) throw new HttpError(ERROR_KINDS[err.kind].status, err.message);
    throw err;
  }
}

/** Runs an app-facing step: a JobError becomes the JSON answer of its kind. */
async function asJsonErrors<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof JobError) throw new HttpError(ERROR_KINDS[err.kind].status, err.message);
    throw err;
  }
}

/** Runs `work` on the given database or a fresh one. */
async function withDb<T>(config: Config, given: Db | undefined, work: (db: Db) => Promise<T>): Promise<T> {
  const opened = given ? undefined : await openDb(config.database).catch((err: unknown) => {
    throw new DatabaseUnavailableError(err);
  });
  try {
    return await work(given ?? opened!.db);
  } finally {
    await opened?.close();
  }
}

/** The confirmation form's fields, read through the capped reader; its 413 becomes a French page. */
async function readForm(req: Request, maxBytes: number): Promise<URLSearchParams> {
  try {
    return new URLSearchParams(await readBodyText(req, maxBytes));
  } catch (err) {
    if (err instanceof HttpError && err.status === 413) {
      throw new PageError(413, "Formulaire trop long", "Ce formulaire est trop long. Recommencez la connexion depuis Lokario.");
    }
    throw err;
  }
}
