// The keys that sign what the OAuth2 flow hands to a browser (start links, the browser-binding
// cookie, the confirmation's CSRF token), derived from ENCRYPTION_KEY (else the cron secret), so no
// new secret is needed and a signature reveals nothing usable elsewhere.

import { type Config, ConfigError } from "../config.js";
import { deriveKey } from "../crypto/hmac.js";

export type OAuthSigningPurpose = "oauth-start-link" | "oauth-browser-binding" | "oauth-confirmation-csrf";

/** The key for `purpose`; a ConfigError (503) when the deployment has neither secret. */
export function oauthSigningKey(config: Config, purpose: OAuthSigningPurpose): Buffer {
  const root = config.encryptionKey ?? config.cronSecrets[0];
  if (!root) throw new ConfigError("connecting mailboxes with OAuth2 needs ENCRYPTION_KEY");
  return deriveKey(root, purpose);
}
