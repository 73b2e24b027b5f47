// Binds an OAuth2 authorization to the browser that started it (RFC 6749 §10.12, RFC 9700 §4.7.1):
// starting sets a short-lived signed cookie carrying a random nonce, whose SHA-256 is stored with
// the state; the callback and the confirmation need that cookie. A consent URL or a redirect
// opened in another browser (a forwarded link, a stolen code) then finds no authorization.
// The cookie is HttpOnly, SameSite=Lax (sent on the provider's top-level redirect back, not on
// other sites' subrequests or form posts), Secure except for a callback on http://localhost, and
// scoped to the callback's path.

import { createHash, randomBytes } from "node:crypto";
import { type Config, ConfigError } from "../config.js";
import { isSignedBy, sign } from "../crypto/hmac.js";
import { CONFIRMATION_TTL_MS } from "./confirm-authorization.js";
import { oauthSigningKey } from "./signing-key.js";
import { AUTHORIZATION_TTL_MS } from "./start-authorization.js";

export const BROWSER_BINDING_COOKIE = "lokario_connexion_boite";
/** Long enough to log in and consent at the provider, then to read and confirm. */
export const BROWSER_BINDING_TTL_MS = AUTHORIZATION_TTL_MS + CONFIRMATION_TTL_MS;

export interface BrowserBinding {
  nonce: string;
  expiresAt: Date;
  /** What is stored with the state (`browser_binding_hash`). */
  hash: string;
}

/** A new binding starting at `now`, and the `Set-Cookie` value that gives it to the browser. */
export function newBrowserBinding(config: Config, now: Date): { binding: BrowserBinding; setCookie: string } {
  const nonce = randomBytes(32).toString("base64url");
  const expiresMs = now.getTime() + BROWSER_BINDING_TTL_MS;
  const payload = `${nonce}.${expiresMs}`;
  const value = `${payload}.${sign(oauthSigningKey(config, "oauth-browser-binding"), payload)}`;
  return {
    binding: { nonce, expiresAt: new Date(expiresMs), hash: bindingHash(nonce) },
    setCookie: cookieHeader(config, value, BROWSER_BINDING_TTL_MS),
  };
}

/** The binding `req`'s cookie carries, when it is ours and unexpired. */
export function readBrowserBinding(config: Config, req: Request, now: Date): BrowserBinding | undefined {
  const match = readCookie(req, BROWSER_BINDING_COOKIE)?.match(/^([\w-]{43})\.(\d{1,15})\.([\w-]{43})$/);
  if (!match) return undefined;
  const [, nonce, expiresText, signature] = match as unknown as [string, string, string, string];
  if (!isSignedBy([oauthSigningKey(config, "oauth-browser-binding")], `${nonce}.${expiresText}`, signature)) return undefined;
  const expiresAt = new Date(Number(expiresText));
  if (expiresAt.getTime() <= now.getTime()) return undefined;
  return { nonce, expiresAt, hash: bindingHash(nonce) };
}

/** The `Set-Cookie` value that removes the binding (the flow is over). */
export function clearBrowserBinding(config: Config): string {
  return cookieHeader(config, "", 0);
}

/** The CSRF token of the confirmation form: bound to the cookie, so a page without it cannot post one. */
export function confirmationCsrfToken(config: Config, binding: BrowserBinding): string {
  return sign(oauthSigningKey(config, "oauth-confirmation-csrf"), binding.nonce);
}

export function isConfirmationCsrfTokenValid(config: Config, binding: BrowserBinding, token: string | undefined): boolean {
  return token !== undefined && token.length <= 64 && isSignedBy([oauthSigningKey(config, "oauth-confirmation-csrf")], binding.nonce, token);
}

function bindingHash(nonce: string): string {
  return createHash("sha256").update(nonce).digest("base64url");
}

function cookieHeader(config: Config, value: string, maxAgeMs: number): string {
  const redirect = config.oauth.redirectUrl;
  if (!redirect) throw new ConfigError("OAUTH_REDIRECT_URL (or PUBLIC_BASE_URL) is not configured");
  const url = new URL(redirect);
  const parts = [`${BROWSER_BINDING_COOKIE}=${value}`, `Path=${url.pathname}`, `Max-Age=${Math.floor(maxAgeMs / 1000)}`, "HttpOnly", "SameSite=Lax"];
  // A browser drops a Secure cookie set over plain http; local development runs on http://localhost.
  if (!(url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname))) parts.push("Secure");
  return parts.join("; ");
}

function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}
