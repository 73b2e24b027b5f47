// One call to a provider's token endpoint (RFC 6749 §4.1.3 code exchange, §6 refresh), with the
// client's credentials in the body (client_secret_post: accepted by Google, Microsoft and most
// OpenID Connect servers). Failures carry their kind: a refused grant is `auth`, a refused client is
// `permanent` (the deployment's settings are wrong), anything else `transient`.

import { JobError } from "../errors.js";
import type { OAuthProvider } from "./providers.js";

export interface TokenResponse {
  accessToken: string;
  /** Seconds, as the provider said (RFC 6749 §5.1); absent means the provider did not say. */
  expiresInS?: number;
  /** Present when the provider issued (or rotated) one. */
  refreshToken?: string;
  idToken?: string;
}

/** The provider no longer honours the grant (revoked, expired, password changed): RFC 6749 §5.2 `invalid_grant`. */
export class GrantRefusedError extends JobError {
  constructor(message: string) {
    super("auth", message);
    this.name = "GrantRefusedError";
  }
}

export const TOKEN_TIMEOUT_MS = 10_000;
/** Assumed lifetime when a provider omits `expires_in` (RFC 6749 §5.1 only recommends it); an hour is the common one. */
const DEFAULT_EXPIRES_IN_S = 3600;

/** When an access token just received stops being valid. */
export function accessTokenExpiry(tokens: TokenResponse, receivedAt: Date): Date {
  return new Date(receivedAt.getTime() + (tokens.expiresInS ?? DEFAULT_EXPIRES_IN_S) * 1000);
}

/** Posts `params` to the token endpoint and returns the tokens. Never logs or returns a token in an error. */
export async function requestToken(provider: OAuthProvider, params: Record<string, string>): Promise<TokenResponse> {
  const { token: url } = await provider.endpoints();
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({ ...params, client_id: provider.clientId, client_secret: provider.clientSecret }),
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
    });
  } catch (err) {
    throw new JobError("transient", `${provider.name} token endpoint unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  if (!response.ok) {
    const error = typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
    if (error === "invalid_grant") throw new GrantRefusedError(`${provider.name} refused the mailbox's authorization (invalid_grant): connect it again`);
    if (error === "invalid_client" || error === "unauthorized_client") {
      throw new JobError("permanent", `${provider.name} refused this app's client credentials (${error}): check its CLIENT_ID and CLIENT_SECRET`);
    }
    const kind = response.status >= 500 || response.status === 429 ? "transient" : "permanent";
    throw new JobError(kind, `${provider.name} token endpoint answered ${error}`);
  }
  if (typeof body.access_token !== "string" || body.access_token === "") {
    throw new JobError("transient", `${provider.name} token endpoint answered without an access token`);
  }
  const expiresInS = Number(body.expires_in);
  return {
    accessToken: body.access_token,
    expiresInS: Number.isFinite(expiresInS) && expiresInS > 0 ? expiresInS : undefined,
    refreshToken: typeof body.refresh_token === "string" && body.refresh_token ? body.refresh_token : undefined,
    idToken: typeof body.id_token === "string" ? body.id_token : undefined,
  };
}
