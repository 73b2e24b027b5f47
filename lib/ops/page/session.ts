// The operator's session: a signed cookie carrying its expiry and a random id (the session is also
// recorded in the database, so signing out can end it: session-store.ts), the CSRF token bound to
// that id, and the one-shot "flash" cookie that carries an action's outcome across its redirect.
// Keys are derived from the cron secret, so rotating the secret signs everyone out.

import { randomBytes } from "node:crypto";
import type { Config } from "../../config.js";
import { deriveKey, isSignedBy, sign } from "../../crypto/hmac.js";

export const SESSION_COOKIE = "lokario_operateur";
export const FLASH_COOKIE = "lokario_resultat";
/** A working day: long enough for an incident, short enough that a forgotten tab does not stay open for a week. */
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
/** An action's outcome is shown on the page that follows its redirect, not later. */
const FLASH_TTL_MS = 60 * 1000;

export interface SessionKeys {
  /** Signs new values (derived from CRON_SECRET). */
  session: Buffer;
  csrf: Buffer;
  flash: Buffer;
  /** Every key still accepted (CRON_SECRET and CRON_SECRET_NEXT while rotating). */
  accepted: { session: Buffer[]; csrf: Buffer[]; flash: Buffer[] };
}

export interface OperatorSession {
  id: string;
  expiresAt: Date;
  csrfToken: string;
}

export type SessionState = { status: "signed-in"; session: OperatorSession } | { status: "expired" } | { status: "none" };

export interface Flash {
  tone: "ok" | "error";
  text: string;
}

/** The keys of the configured secrets, or undefined when no secret is set (the page stays closed). */
export function sessionKeysFor(config: Config): SessionKeys | undefined {
  if (config.cronSecrets.length === 0) return undefined;
  const of = (purpose: string) => config.cronSecrets.map((secret) => deriveKey(secret, purpose));
  const accepted = { session: of("operator-session"), csrf: of("operator-csrf"), flash: of("operator-flash") };
  return { session: accepted.session[0]!, csrf: accepted.csrf[0]!, flash: accepted.flash[0]!, accepted };
}

/** A new session starting at `now`: the cookie value to set and what it stands for. */
export function createSession(keys: SessionKeys, now: Date): { cookieValue: string; session: OperatorSession } {
  const id = randomBytes(18).toString("base64url");
  const expiresMs = now.getTime() + SESSION_TTL_MS;
  const payload = `${expiresMs}.${id}`;
  return {
    cookieValue: `${payload}.${sign(keys.session, payload)}`,
    session: { id, expiresAt: new Date(expiresMs), csrfToken: sign(keys.csrf, id) },
  };
}

/** The session a request carries: signed in, expired (so the page can say so), or none. */
export function readSession(req: Request, keys: SessionKeys, now: Date): SessionState {
  const value = readCookie(req, SESSION_COOKIE);
  const match = value?.match(/^(\d{1,15})\.([\w-]{1,64})\.([\w-]{1,64})$/);
  if (!match) return { status: "none" };
  const [, expiresText, id, signature] = match as unknown as [string, string, string, string];
  if (!isSignedBy(keys.accepted.session, `${expiresText}.${id}`, signature)) return { status: "none" };
  const expiresAt = new Date(Number(expiresText));
  if (expiresAt.getTime() <= now.getTime()) return { status: "expired" };
  return { status: "signed-in", session: { id, expiresAt, csrfToken: sign(keys.csrf, id) } };
}

/** True when `token` (a form's hidden field) is the CSRF token of `session`. */
export function isCsrfTokenValid(keys: SessionKeys, session: OperatorSession, token: string | undefined): boolean {
  return token !== undefined && token.length <= 64 && isSignedBy(keys.accepted.csrf, session.id, token);
}

/** A signed flash cookie value for `flash`. */
export function flashCookieValue(keys: SessionKeys, flash: Flash, now: Date): string {
  // A cookie holds about 4 KB: a long server error is cut, the page and the logs keep the rest.
  const payload = Buffer.from(JSON.stringify({ tone: flash.tone, text: flash.text.slice(0, 600), expiresMs: now.getTime() + FLASH_TTL_MS })).toString("base64url");
  return `${payload}.${sign(keys.flash, payload)}`;
}

/** The flash a request carries, if it is ours and fresh. */
export function readFlash(req: Request, keys: SessionKeys, now: Date): Flash | undefined {
  const [payload, signature] = (readCookie(req, FLASH_COOKIE) ?? "").split(".");
  if (!payload || !signature || !isSignedBy(keys.accepted.flash, payload, signature)) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Flash & { expiresMs: number };
    if (parsed.expiresMs <= now.getTime() || (parsed.tone !== "ok" && parsed.tone !== "error")) return undefined;
    return { tone: parsed.tone, text: String(parsed.text) };
  } catch {
    return undefined;
  }
}

/**
 * A `Set-Cookie` value: always `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
 * page sends it) and `Secure` except in local development over plain HTTP. `maxAgeMs` 0 deletes it.
 */
export function setCookieHeader(name: string, value: string, options: { maxAgeMs: number; isSecure: boolean }): string {
  const parts = [`${name}=${value}`, "Path=/", `Max-Age=${Math.floor(options.maxAgeMs / 1000)}`, "HttpOnly", "SameSite=Strict"];
  if (options.isSecure) parts.push("Secure");
  return parts.join("; ");
}

/** Secure cookies everywhere but development over http (where the browser would drop them). */
export function isSecureCookie(req: Request, config: Config): boolean {
  return config.isProduction || new URL(req.url).protocol === "https:";
}

function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return undefined;
}
