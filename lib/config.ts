// The only reader of process.env: parses the environment once into a typed, unit-named config.
// Development defaults (embedded PGlite, no secret) apply only outside production.

import { BlockList, isIP } from "node:net";
import { z } from "zod";

const DEFAULT_PGLITE_URL = "pglite:./.data/pglite";

/** Vonage's dashboard "Signature method" choices, by the names @vonage/sms's error message gives them (lib/sms/vonage-signature.ts). */
export const VONAGE_SIGNATURE_METHODS = ["md5hash", "md5", "sha1", "sha256", "sha512"] as const;
export type VonageSignatureMethod = (typeof VONAGE_SIGNATURE_METHODS)[number];

const booleanText = z
  .enum(["1", "0", "true", "false", "yes", "no", "on", "off", ""])
  .transform((v) => ["1", "true", "yes", "on"].includes(v));

const envSchema = z.object({
  NODE_ENV: z.string().optional(),
  VERCEL_ENV: z.string().optional(),
  CRON_SECRET: z.string().optional(),
  /** A second accepted secret while rotating CRON_SECRET. */
  CRON_SECRET_NEXT: z.string().optional(),
  DATABASE_URL: z.string().optional(),
  DATABASE_DRIVER: z.enum(["pglite", "pg", "neon"]).optional(),
  /** Local Neon-compatible WebSocket proxy, "host:port/path" (development and tests only). */
  NEON_WEBSOCKET_PROXY: z.string().optional(),
  ENCRYPTION_KEY: z.string().optional(),
  /** The original product's Fernet master key, to read passwords it stored. */
  ENCRYPTION_MASTER_KEY: z.string().optional(),
  RUN_BUDGET_MS: z.coerce.number().int().min(1000).max(900_000).default(25_000),
  IMAP_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  IMAP_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(100).default(20_000),
  MAX_MESSAGE_BYTES: z.coerce.number().int().min(1024).default(25 * 1024 * 1024),
  MAX_ATTACHMENT_BYTES: z.coerce.number().int().min(0).default(15 * 1024 * 1024),
  ATTACHMENTS_DIR: z.string().default("./.data/attachments"),
  /**
   * `local` (ATTACHMENTS_DIR), `database` or `s3` (S3_BUCKET). The default is `s3` when a bucket is
   * configured, else `database` on Vercel and Netlify and `local` elsewhere.
   */
  ATTACHMENTS_STORAGE: z.enum(["local", "database", "s3"]).optional(),
  /**
   * An S3-API bucket (AWS S3, Cloudflare R2, Scaleway, OVHcloud…). Names of our own, not the SDK's
   * `AWS_*`: on Vercel and Netlify (AWS Lambda underneath) those hold the platform's credentials and
   * region, and Lambda reserves them.
   */
  S3_BUCKET: z.string().optional(),
  S3_REGION: z.string().optional(),
  /** The provider's address (R2, Scaleway, OVHcloud, a local server); unset for AWS S3 itself. */
  S3_ENDPOINT: z.string().url().optional(),
  S3_ACCESS_KEY_ID: z.string().optional(),
  S3_SECRET_ACCESS_KEY: z.string().optional(),
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, most local servers). */
  S3_FORCE_PATH_STYLE: booleanText.default(false),
  /** Longest wait for a connection, and for the store's next byte once connected. */
  S3_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(20_000),
  /**
   * Set by the platforms themselves, and read to tell where this process runs (see `platformOf`).
   * Vercel exposes `VERCEL` to functions at run time; Netlify sets `NETLIFY` during builds only, and
   * gives its functions `SITE_ID`, `SITE_NAME` and `URL` ("Environment variables and functions").
   */
  VERCEL: z.string().optional(),
  NETLIFY: z.string().optional(),
  SITE_ID: z.string().optional(),
  SITE_NAME: z.string().optional(),
  /** Deprecated: an upper bound on the mailboxes one run claims (no bound when unset). */
  INTEGRATIONS_PER_RUN: z.coerce.number().int().min(1).optional(),
  SYNC_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(24),
  SYNC_CONCURRENCY_PER_HOST: z.coerce.number().int().min(1).max(200).default(5),
  /** Parallel invocations a sync ping may start when more is due than it can do alone (0 = never). */
  FANOUT_MAX_INVOCATIONS: z.coerce.number().int().min(0).max(50).default(0),
  /** Where those invocations are sent; defaults to PUBLIC_BASE_URL, then the platform's own address. */
  FANOUT_BASE_URL: z.string().url().optional(),
  /** Due mailboxes one invocation is expected to sync within its budget; more than that fans out. */
  FANOUT_MAILBOXES_PER_INVOCATION: z.coerce.number().int().min(1).optional(),
  /** Set by Vercel: this deployment's host name, and the project's production host name. */
  VERCEL_URL: z.string().optional(),
  VERCEL_PROJECT_PRODUCTION_URL: z.string().optional(),
  /** Set by Netlify: the site's main address. */
  URL: z.string().url().optional(),
  SMTP_HOST: z.string().optional(),
  SMTP_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  SMTP_SECURE: booleanText.optional(),
  SMTP_USER: z.string().optional(),
  SMTP_PASSWORD: z.string().optional(),
  SMTP_FROM: z.string().optional(),
  SMTP_TLS_REJECT_UNAUTHORIZED: booleanText.default(true),
  SMTP_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  /**
   * The host name this deployment gives in SMTP's EHLO. Defaults to PUBLIC_BASE_URL's host, else each
   * message's sender domain: never an address literal, which strict relays refuse.
   */
  SMTP_HELO_NAME: z
    .string()
    .regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/, "a fully qualified host name (letters, digits, dots, hyphens)")
    .refine((name) => isIP(name) === 0, "a host name, not an address")
    .optional(),
  /**
   * Connections a follow-up run keeps open to the global server at once, one message on each. Relays
   * and sending services accept several sessions per account (Postfix serves many clients at once;
   * Brevo, Mailjet, SES and the like allow well over a handful); four gets most of the gain on a
   * nearby server (bench/README.md) while staying far below any such limit.
   */
  SMTP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(50).default(4),
  /** The global server's sending limits (messages a minute, an hour, a day); unset: none (a relay of the operator's own). */
  SMTP_MAX_PER_MINUTE: z.coerce.number().int().min(1).optional(),
  SMTP_MAX_PER_HOUR: z.coerce.number().int().min(1).optional(),
  SMTP_MAX_PER_DAY: z.coerce.number().int().min(1).optional(),
  /** Find a sending mailbox's missing SMTP settings (known providers, autoconfig, DNS SRV). */
  SMTP_DISCOVERY: booleanText.default(true),
  SMTP_DISCOVERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(4_000),
  /** Tests only: autoconfig URL templates ({domain}, {email}) instead of the standard https ones. */
  SMTP_AUTOCONFIG_URLS: z.string().optional(),
  /** Tests only: DNS servers ("127.0.0.1:5353", comma-separated) for the SRV lookups. */
  SMTP_DISCOVERY_DNS_SERVERS: z.string().optional(),
  ALERT_WEBHOOK_URL: z.string().url().optional(),
  // SMS follow-ups: the global provider, used by companies without their own (docs/sms.md).
  SMS_PROVIDER: z.enum(["vonage", "smpp"]).optional(),
  SMS_SENDER_NAME: z.string().optional(),
  SMS_MAX_SEGMENTS: z.coerce.number().int().min(1).max(10).default(3),
  SMS_TIMEOUT_MS: z.coerce.number().int().min(100).default(15_000),
  /** Secret in the URL (`?secret=`) of the deployment's own Vonage account's webhooks. */
  SMS_WEBHOOK_SECRET: z.string().optional(),
  VONAGE_API_KEY: z.string().optional(),
  VONAGE_API_SECRET: z.string().optional(),
  /** The account's signature secret: its webhooks must then be signed (`sig`), and no `?secret=` is needed. */
  VONAGE_SIGNATURE_SECRET: z.string().optional(),
  /** The dashboard's "Signature method" (Vonage's default: MD5 hash). */
  VONAGE_SIGNATURE_METHOD: z.enum(VONAGE_SIGNATURE_METHODS).default("md5hash"),
  /** Tests only: the SDK's REST host instead of https://rest.nexmo.com. */
  VONAGE_REST_HOST: z.string().url().optional(),
  /** smpp://host:port or ssmpp://host:port (TLS). */
  SMPP_URL: z.string().regex(/^s?smpp:\/\/[^/:]+(:\d{1,5})?\/?$/).optional(),
  SMPP_SYSTEM_ID: z.string().optional(),
  SMPP_PASSWORD: z.string().optional(),
  SMPP_SYSTEM_TYPE: z.string().optional(),
  /** Lets mailboxes point at loopback, private and other reserved addresses (a LAN mail server, tests). */
  ALLOW_PRIVATE_MAIL_HOSTS: booleanText.default(false),
  /** Ports a mailbox's IMAP/SMTP server may use: "993,587,…", or "*" for any. */
  MAIL_ALLOWED_PORTS: z
    .string()
    .regex(/^\s*(\*|\d{1,5}(\s*,\s*\d{1,5})*)?\s*$/)
    .refine((v) => ["*", ""].includes(v.trim()) || v.split(",").every((p) => Number(p) >= 1 && Number(p) <= 65_535))
    .optional(),
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  /** The zone the operator's page and the notifications write dates in (an IANA name). */
  OPERATOR_TIME_ZONE: z.string().trim().refine(isTimeZone).default("Europe/Paris"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /**
   * `npm start` only: reverse proxies of this deployment's own in front of it (nginx, Caddy…), which
   * append the client's address to X-Forwarded-For. 0 (the default) trusts no such header.
   */
  TRUST_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(0),
  /** Where providers send the user back after consent: the app's `/api/integrations/oauth/callback`. */
  OAUTH_REDIRECT_URL: z.string().url().optional(),
  /** The public address of this deployment; the redirect URL defaults to its callback path. */
  PUBLIC_BASE_URL: z.string().url().optional(),
  GOOGLE_CLIENT_ID: z.string().optional(),
  GOOGLE_CLIENT_SECRET: z.string().optional(),
  MICROSOFT_CLIENT_ID: z.string().optional(),
  MICROSOFT_CLIENT_SECRET: z.string().optional(),
  /** `common` (any work or personal account), `organizations`, or one tenant's id or domain. */
  MICROSOFT_TENANT: z.string().regex(/^[A-Za-z0-9.-]+$/).default("common"),
  /** A generic OpenID Connect provider (discovered from its issuer) and its mail servers. */
  OIDC_ISSUER: z.string().url().optional(),
  OIDC_CLIENT_ID: z.string().optional(),
  OIDC_CLIENT_SECRET: z.string().optional(),
  OIDC_SCOPES: z.string().default("openid email offline_access"),
  OIDC_IMAP_HOST: z.string().optional(),
  OIDC_IMAP_PORT: z.coerce.number().int().min(1).max(65535).default(993),
  OIDC_IMAP_SSL: booleanText.default(true),
  OIDC_SMTP_HOST: z.string().optional(),
  OIDC_SMTP_PORT: z.coerce.number().int().min(1).max(65535).default(587),
  OIDC_SMTP_SECURE: booleanText.optional(),
  /** Off only for a self-hosted mail server with a self-signed certificate. */
  OIDC_TLS_REJECT_UNAUTHORIZED: booleanText.default(true),
  // Gmail API (docs/google.md): the Pub/Sub topic `users.watch` publishes to, and the push subscription.
  GMAIL_PUBSUB_TOPIC: z.string().trim().regex(/^projects\/[^/\s]+\/topics\/[^/\s]+$/).optional(),
  /** The push subscription's audience: the push endpoint's public URL. */
  GMAIL_PUSH_AUDIENCE: z.string().trim().url().optional(),
  /** The service account the push subscription authenticates as (its tokens' `email`). */
  GMAIL_PUSH_SERVICE_ACCOUNT: z.string().trim().email().optional(),
  /** Tests only: the Gmail API's address, the push tokens' signing keys and issuer, instead of Google's. */
  GMAIL_API_BASE_URL: z.string().url().optional(),
  GMAIL_PUSH_JWKS_URL: z.string().url().optional(),
  GMAIL_PUSH_ISSUER: z.string().optional(),
  /** Tests only: Microsoft Graph's root (`https://graph.microsoft.com/v1.0` otherwise). */
  MICROSOFT_GRAPH_BASE_URL: z.string().url().optional(),
});

/** The ports of IMAP (143, 993) and SMTP (25, 465, 587, and 2525, the common alternative to 587). */
export const MAIL_PORTS: readonly number[] = [25, 143, 465, 587, 993, 2525];

/**
 * Which mail servers a mailbox's settings may point at. Tenants type these settings, so by default
 * only public addresses on the mail ports are reached (lib/mail/mail-host-guard.ts).
 */
export interface MailHostPolicy {
  isPrivateAllowed: boolean;
  /** "any" lifts the port check. */
  allowedPorts: readonly number[] | "any";
}

export interface SmtpDiscoveryOptions {
  /** Bound of each network step (one HTTP request, one DNS query). */
  timeoutMs: number;
  /**
   * Autoconfig URLs tried in order, with `{domain}` and `{email}` replaced. In production only the
   * two standard https URLs on the default port (refused as an override there).
   */
  autoconfigUrls: readonly string[];
  /** DNS servers ("127.0.0.1:5353") instead of the system's, for tests. */
  dnsServers?: readonly string[];
  /**
   * Which addresses an autoconfig host may resolve to (config.mailHosts, any port): a tenant's domain
   * must not make this server fetch from the internal network. Unset: no address check (tests of
   * the parsing only).
   */
  hostPolicy?: MailHostPolicy;
}

/** Thunderbird's autoconfig locations: the provider's subdomain, then the domain's well-known path. */
export const STANDARD_AUTOCONFIG_URLS = [
  "https://autoconfig.{domain}/mail/config-v1.1.xml?emailaddress={email}",
  "https://{domain}/.well-known/autoconfig/mail/config-v1.1.xml",
] as const;

export type DatabaseDriver = "pglite" | "pg" | "neon";

export interface SmtpServerConfig {
  host: string;
  port: number;
  isSecure: boolean;
  user?: string;
  password?: string;
  from?: string;
  rejectUnauthorized: boolean;
  /** Messages sent at once through this server by a follow-up run, each on its own connection. */
  maxConnections: number;
  /** SMTP_MAX_PER_*: the most messages it takes in a minute, an hour, a day (lib/followups/account-limits.ts). */
  limits?: { perMinute?: number; perHour?: number; perDay?: number };
}

/** The global SMS provider (companies may bring their own in their settings). */
export interface SmsConfig {
  provider?: "vonage" | "smpp";
  senderName?: string;
  maxSegments: number;
  timeoutMs: number;
  webhookSecret?: string;
  vonage?: { apiKey: string; apiSecret: string; signatureSecret?: string; signatureMethod: VonageSignatureMethod; restHost?: string };
  smpp?: { host: string; port: number; isSecure: boolean; systemId: string; password: string; systemType?: string };
}

/** An app registered with an OAuth2 provider. */
export interface OAuthClientConfig {
  clientId: string;
  clientSecret: string;
}

export interface OidcProviderConfig extends OAuthClientConfig {
  issuer: string;
  scopes: string[];
  imap: { host: string; port: number; useSsl: boolean };
  smtp?: { host: string; port: number; isSecure: boolean };
  tlsRejectUnauthorized: boolean;
}

/** The Gmail API transport and its push notifications. */
export interface GmailConfig {
  /** Unset: Google's (lib/gmail/gmail-client.ts); set only in tests. */
  apiBaseUrl?: string;
  /** `projects/<project>/topics/<topic>`; without it, mailboxes are not watched (polling only). */
  pubsubTopic?: string;
  /** Without it, push requests are refused. */
  push?: {
    audience: string;
    serviceAccountEmail?: string;
    /** Unset: Google's keys and issuers (lib/gmail/verify-push-token.ts); set only in tests. */
    jwksUrl?: string;
    issuers?: string[];
  };
}

/** The Microsoft Graph transport. */
export interface GraphConfig {
  /** Unset: Microsoft's (lib/graph/graph-client.ts GRAPH_BASE_URL); set only in tests. */
  baseUrl?: string;
  /** PUBLIC_BASE_URL without its trailing slash: where Graph posts change notifications; unset, no subscription is made. */
  notificationBaseUrl?: string;
}

export interface OAuthConfig {
  /** The callback URL registered with every provider, when one is configured. */
  redirectUrl?: string;
  google?: OAuthClientConfig;
  microsoft?: OAuthClientConfig & { tenant: string };
  oidc?: OidcProviderConfig;
}

/** Where this process runs: a platform's function, or a Node.js process of our own (`npm start`, the CLI). */
export type Platform = "vercel" | "netlify" | "node";

export interface Config {
  isProduction: boolean;
  /** Read from what each platform sets at run time, never from a request. */
  platform: Platform;
  cronSecrets: string[];
  database: { url: string; driver: DatabaseDriver; neonWebSocketProxy?: string };
  encryptionKey?: string;
  legacyMasterKey?: string;
  runBudgetMs: number;
  imap: { connectTimeoutMs: number; commandTimeoutMs: number };
  maxMessageBytes: number;
  maxAttachmentBytes: number;
  attachmentsDir: string;
  attachmentsStorage: "local" | "database" | "s3";
  /** The bucket, when one is configured (it may be set while another store takes new files: `attachments move-to-bucket`). */
  s3?: S3Settings;
  sync: SyncConfig;
  fanout: FanoutConfig;
  smtp?: SmtpServerConfig;
  smtpTimeoutMs: number;
  /** The EHLO name (SMTP_HELO_NAME, else PUBLIC_BASE_URL's host); unset: the sender's domain (mail/smtp.ts). */
  smtpHeloName?: string;
  /** Undefined when SMTP_DISCOVERY is off. */
  smtpDiscovery?: SmtpDiscoveryOptions;
  alertWebhookUrl?: string;
  sms: SmsConfig;
  mailHosts: MailHostPolicy;
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** IANA name, checked against the platform's own zone database. */
  operatorTimeZone: string;
  port: number;
  /** Reverse proxies of our own in front of `npm start` whose X-Forwarded-For entries are trusted (lib/http/client-address.ts). */
  trustProxyHops: number;
  oauth: OAuthConfig;
  gmail: GmailConfig;
  graph: GraphConfig;
}

/** An S3-API bucket and how to reach it. */
export interface S3Settings {
  bucket: string;
  region: string;
  /** Unset: AWS S3's own address for the region. */
  endpoint?: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  timeoutMs: number;
}

export interface SyncConfig {
  /** Mailboxes synced at the same time by one run: the cost is waiting on the network, not CPU. */
  concurrency: number;
  /** Of those, at most this many on one IMAP host (lower-cased), so no provider is hammered. */
  concurrencyPerHost: number;
  /** Deprecated `INTEGRATIONS_PER_RUN`: when set, a run claims no more mailboxes than this. */
  maxIntegrationsPerRun?: number;
}

export interface FanoutConfig {
  /** Parallel invocations one ping may start (0: fan-out off). */
  maxInvocations: number;
  /** The deployment's own address, where those invocations are sent. */
  baseUrl?: string;
  /** Due mailboxes one invocation is expected to handle within its budget. */
  mailboxesPerInvocation: number;
}

/** Raised when the environment cannot make a working config; endpoints answer 503 with it. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Parses an environment (process.env by default) into a Config, or throws ConfigError. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join(".")).join(", ");
    throw new ConfigError(`invalid environment variables: ${fields}`);
  }
  const env = parsed.data;
  const platform = platformOf(env);
  // A platform's function is reachable by anyone, whatever NODE_ENV says (Netlify sets none at run
  // time): it gets production's rules, so it never runs open without a secret nor on an embedded database.
  const isProduction = env.NODE_ENV === "production" || env.VERCEL_ENV === "production" || platform !== "node";
  const url = env.DATABASE_URL?.trim() || (isProduction ? "" : DEFAULT_PGLITE_URL);
  if (!url) throw new ConfigError("DATABASE_URL is not configured");
  // Trimmed: a secret pasted into a dashboard often carries a trailing newline that no header keeps.
  const cronSecrets = [env.CRON_SECRET, env.CRON_SECRET_NEXT]
    .map((s) => s?.trim())
    .filter((s): s is string => typeof s === "string" && s.length > 0);
  const s3 = s3Settings(env, isProduction);
  // Serverless disks are wiped between requests: attachments kept there would be lost.
  const attachmentsStorage = env.ATTACHMENTS_STORAGE ?? (s3 ? "s3" : platform === "node" ? "local" : "database");
  if (attachmentsStorage === "s3" && !s3) throw new ConfigError("ATTACHMENTS_STORAGE=s3 needs S3_BUCKET, S3_REGION, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY");
  const mailHosts: MailHostPolicy = {
    isPrivateAllowed: env.ALLOW_PRIVATE_MAIL_HOSTS,
    allowedPorts: allowedPortsOf(env.MAIL_ALLOWED_PORTS, env.ALLOW_PRIVATE_MAIL_HOSTS),
  };
  return {
    isProduction,
    platform,
    cronSecrets,
    database: {
      url,
      driver: env.DATABASE_DRIVER ?? driverFor(url),
      neonWebSocketProxy: env.NEON_WEBSOCKET_PROXY,
    },
    encryptionKey: env.ENCRYPTION_KEY || undefined,
    legacyMasterKey: env.ENCRYPTION_MASTER_KEY || undefined,
    runBudgetMs: env.RUN_BUDGET_MS,
    imap: { connectTimeoutMs: env.IMAP_CONNECT_TIMEOUT_MS, commandTimeoutMs: env.IMAP_COMMAND_TIMEOUT_MS },
    maxMessageBytes: env.MAX_MESSAGE_BYTES,
    maxAttachmentBytes: env.MAX_ATTACHMENT_BYTES,
    attachmentsDir: env.ATTACHMENTS_DIR,
    attachmentsStorage,
    s3,
    sync: {
      concurrency: env.SYNC_CONCURRENCY,
      concurrencyPerHost: Math.min(env.SYNC_CONCURRENCY_PER_HOST, env.SYNC_CONCURRENCY),
      maxIntegrationsPerRun: env.INTEGRATIONS_PER_RUN,
    },
    fanout: {
      maxInvocations: env.FANOUT_MAX_INVOCATIONS,
      baseUrl: fanoutBaseUrl(env, platform),
      // A cautious guess of one invocation's reach: every slot busy the whole budget, 2 s a mailbox
      // (an idle mailbox on a remote provider takes 0.3–1 s; one with new mail, more).
      mailboxesPerInvocation: env.FANOUT_MAILBOXES_PER_INVOCATION ?? Math.max(1, Math.floor((env.SYNC_CONCURRENCY * env.RUN_BUDGET_MS) / 2_000)),
    },
    smtp: env.SMTP_HOST
      ? {
          host: env.SMTP_HOST,
          port: env.SMTP_PORT ?? (env.SMTP_SECURE ? 465 : 587),
          isSecure: env.SMTP_SECURE ?? env.SMTP_PORT === 465,
          user: env.SMTP_USER || undefined,
          password: env.SMTP_PASSWORD || undefined,
          from: env.SMTP_FROM || undefined,
          rejectUnauthorized: env.SMTP_TLS_REJECT_UNAUTHORIZED,
          maxConnections: env.SMTP_MAX_CONNECTIONS,
          limits: env.SMTP_MAX_PER_MINUTE || env.SMTP_MAX_PER_HOUR || env.SMTP_MAX_PER_DAY
            ? { perMinute: env.SMTP_MAX_PER_MINUTE, perHour: env.SMTP_MAX_PER_HOUR, perDay: env.SMTP_MAX_PER_DAY }
            : undefined,
        }
      : undefined,
    smtpTimeoutMs: env.SMTP_TIMEOUT_MS,
    smtpHeloName: env.SMTP_HELO_NAME ?? (env.PUBLIC_BASE_URL ? new URL(env.PUBLIC_BASE_URL).hostname : undefined),
    smtpDiscovery: env.SMTP_DISCOVERY ? smtpDiscoveryOf(env, isProduction, mailHosts) : undefined,
    alertWebhookUrl: env.ALERT_WEBHOOK_URL,
    sms: smsConfig(env),
    mailHosts,
    logLevel: env.LOG_LEVEL,
    operatorTimeZone: env.OPERATOR_TIME_ZONE,
    port: env.PORT,
    trustProxyHops: env.TRUST_PROXY_HOPS,
    oauth: oauthConfig(env),
    gmail: gmailConfig(env, isProduction),
    graph: graphConfig(env, isProduction),
  };
}

/**
 * The bucket's settings, or undefined without S3_BUCKET. Errors name the variables, never their
 * values: an access key pasted into the wrong field would otherwise end up in a log.
 */
function s3Settings(env: z.infer<typeof envSchema>, isProduction: boolean): S3Settings | undefined {
  const bucket = env.S3_BUCKET?.trim();
  if (!bucket) return undefined;
  // The rules shared by AWS S3, R2 and the others for new buckets: 3–63 lower-case letters, digits, dots, hyphens.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new ConfigError("S3_BUCKET is not a valid bucket name (3 to 63 lower-case letters, digits, dots or hyphens)");
  const region = env.S3_REGION?.trim();
  const accessKeyId = env.S3_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.S3_SECRET_ACCESS_KEY?.trim();
  const missing = [["S3_REGION", region], ["S3_ACCESS_KEY_ID", accessKeyId], ["S3_SECRET_ACCESS_KEY", secretAccessKey]]
    .filter(([, value]) => !value)
    .map(([name]) => name);
  if (missing.length > 0 || !region || !accessKeyId || !secretAccessKey) throw new ConfigError(`S3_BUCKET needs ${missing.join(", ")}`);
  let endpoint: string | undefined;
  if (env.S3_ENDPOINT) {
    const url = new URL(env.S3_ENDPOINT);
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new ConfigError("S3_ENDPOINT must be an http(s) address");
    // Credentials never travel in a URL; a path or query would be silently dropped by the SDK.
    if (url.username || url.password || url.search || url.hash || url.pathname !== "/") {
      throw new ConfigError("S3_ENDPOINT must be the store's address alone (scheme, host, port): no path, query or credentials");
    }
    // Attachments are customers' documents: in production they travel encrypted.
    if (isProduction && url.protocol !== "https:") throw new ConfigError("S3_ENDPOINT must use https in production");
    endpoint = url.origin;
  }
  return { bucket, region, endpoint, accessKeyId, secretAccessKey, forcePathStyle: env.S3_FORCE_PATH_STYLE, timeoutMs: env.S3_TIMEOUT_MS };
}

/** The global SMS provider; a chosen provider without its credentials is a mistake. */
function smsConfig(env: z.infer<typeof envSchema>): SmsConfig {
  const vonage = env.VONAGE_API_KEY && env.VONAGE_API_SECRET
    ? {
        apiKey: env.VONAGE_API_KEY,
        apiSecret: env.VONAGE_API_SECRET,
        signatureSecret: env.VONAGE_SIGNATURE_SECRET?.trim() || undefined,
        signatureMethod: env.VONAGE_SIGNATURE_METHOD,
        restHost: env.VONAGE_REST_HOST,
      }
    : undefined;
  const smppUrl = env.SMPP_URL ? new URL(env.SMPP_URL.replace(/^(s?)smpp:/, "http$1:")) : undefined;
  const smpp = smppUrl && env.SMPP_SYSTEM_ID && env.SMPP_PASSWORD
    ? {
        host: smppUrl.hostname,
        isSecure: smppUrl.protocol === "https:",
        port: Number(smppUrl.port) || (smppUrl.protocol === "https:" ? 3550 : 2775),
        systemId: env.SMPP_SYSTEM_ID,
        password: env.SMPP_PASSWORD,
        systemType: env.SMPP_SYSTEM_TYPE || undefined,
      }
    : undefined;
  if (env.SMS_PROVIDER === "vonage" && !vonage) throw new ConfigError("SMS_PROVIDER=vonage needs VONAGE_API_KEY and VONAGE_API_SECRET");
  if (env.SMS_PROVIDER === "smpp" && !smpp) throw new ConfigError("SMS_PROVIDER=smpp needs SMPP_URL, SMPP_SYSTEM_ID and SMPP_PASSWORD");
  return {
    provider: env.SMS_PROVIDER,
    senderName: env.SMS_SENDER_NAME?.trim() || undefined,
    maxSegments: env.SMS_MAX_SEGMENTS,
    timeoutMs: env.SMS_TIMEOUT_MS,
    webhookSecret: env.SMS_WEBHOOK_SECRET?.trim() || undefined,
    vonage,
    smpp,
  };
}

/** OAuth2 providers whose client id and secret are both set (one without the other is a mistake). */
function oauthConfig(env: z.infer<typeof envSchema>): OAuthConfig {
  const client = (name: string, id?: string, secret?: string): OAuthClientConfig | undefined => {
    if (!id && !secret) return undefined;
    if (!id || !secret) throw new ConfigError(`${name}_CLIENT_ID and ${name}_CLIENT_SECRET must be set together`);
    return { clientId: id, clientSecret: secret };
  };
  const google = client("GOOGLE", env.GOOGLE_CLIENT_ID, env.GOOGLE_CLIENT_SECRET);
  const microsoft = client("MICROSOFT", env.MICROSOFT_CLIENT_ID, env.MICROSOFT_CLIENT_SECRET);
  const oidcClient = client("OIDC", env.OIDC_CLIENT_ID, env.OIDC_CLIENT_SECRET);
  if (oidcClient && (!env.OIDC_ISSUER || !env.OIDC_IMAP_HOST)) throw new ConfigError("OIDC_ISSUER and OIDC_IMAP_HOST are required with OIDC_CLIENT_ID");
  const base = env.PUBLIC_BASE_URL?.replace(/\/+$/, "");
  return {
    redirectUrl: env.OAUTH_REDIRECT_URL ?? (base ? `${base}/api/integrations/oauth/callback` : undefined),
    google,
    microsoft: microsoft && { ...microsoft, tenant: env.MICROSOFT_TENANT },
    oidc: oidcClient && env.OIDC_ISSUER && env.OIDC_IMAP_HOST
      ? {
          ...oidcClient,
          issuer: env.OIDC_ISSUER,
          scopes: env.OIDC_SCOPES.split(/\s+/).filter(Boolean),
          imap: { host: env.OIDC_IMAP_HOST, port: env.OIDC_IMAP_PORT, useSsl: env.OIDC_IMAP_SSL },
          smtp: env.OIDC_SMTP_HOST
            ? { host: env.OIDC_SMTP_HOST, port: env.OIDC_SMTP_PORT, isSecure: env.OIDC_SMTP_SECURE ?? env.OIDC_SMTP_PORT === 465 }
            : undefined,
          tlsRejectUnauthorized: env.OIDC_TLS_REJECT_UNAUTHORIZED,
        }
      : undefined,
  };
}

/**
 * The Gmail API settings. The address of the API and of the keys that sign push tokens exist only
 * for tests against local servers: in production, access tokens go to Google alone and only Google's
 * keys are trusted. A push endpoint without the service account check would accept any Google
 * account's token for its URL (anyone can get one), so production requires it.
 */
function gmailConfig(env: z.infer<typeof envSchema>, isProduction: boolean): GmailConfig {
  if (isProduction && (env.GMAIL_API_BASE_URL || env.GMAIL_PUSH_JWKS_URL || env.GMAIL_PUSH_ISSUER)) {
    throw new ConfigError("GMAIL_API_BASE_URL, GMAIL_PUSH_JWKS_URL and GMAIL_PUSH_ISSUER are for tests: unset them in production");
  }
  const audience = env.GMAIL_PUSH_AUDIENCE;
  if (audience && isProduction) {
    if (new URL(audience).protocol !== "https:") throw new ConfigError("GMAIL_PUSH_AUDIENCE must be the push endpoint's https URL");
    if (!env.GMAIL_PUSH_SERVICE_ACCOUNT) throw new ConfigError("GMAIL_PUSH_AUDIENCE needs GMAIL_PUSH_SERVICE_ACCOUNT, the push subscription's service account");
  }
  return {
    apiBaseUrl: env.GMAIL_API_BASE_URL,
    pubsubTopic: env.GMAIL_PUBSUB_TOPIC,
    push: audience
      ? {
          audience,
          serviceAccountEmail: env.GMAIL_PUSH_SERVICE_ACCOUNT,
          jwksUrl: env.GMAIL_PUSH_JWKS_URL,
          issuers: env.GMAIL_PUSH_ISSUER ? [env.GMAIL_PUSH_ISSUER] : undefined,
        }
      : undefined,
  };
}

function graphConfig(env: z.infer<typeof envSchema>, isProduction: boolean): GraphConfig {
  if (isProduction && env.MICROSOFT_GRAPH_BASE_URL) {
    throw new ConfigError("MICROSOFT_GRAPH_BASE_URL is for tests: unset it in production");
  }
  return { baseUrl: env.MICROSOFT_GRAPH_BASE_URL, notificationBaseUrl: env.PUBLIC_BASE_URL?.replace(/\/+$/, "") };
}

/**
 * MAIL_ALLOWED_PORTS when set; otherwise the mail ports, or any port once private hosts are allowed:
 * that setting trusts whoever enters the mailbox settings (a self-hosted install, the tests), and a
 * LAN mail server may listen anywhere.
 */
function allowedPortsOf(list: string | undefined, isPrivateAllowed: boolean): readonly number[] | "any" {
  if (list === undefined || list.trim() === "") return isPrivateAllowed ? "any" : MAIL_PORTS;
  if (list.trim() === "*") return "any";
  return list.split(",").map((p) => Number(p.trim()));
}

/**
 * Discovery reaches hosts named by tenants' domains: in production only the standard https URLs
 * and the system's resolver. The overrides exist for tests against local servers.
 */
function smtpDiscoveryOf(env: z.infer<typeof envSchema>, isProduction: boolean, mailHosts: MailHostPolicy): SmtpDiscoveryOptions {
  const list = (text: string | undefined) => (text ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  const autoconfigUrls = list(env.SMTP_AUTOCONFIG_URLS);
  const dnsServers = list(env.SMTP_DISCOVERY_DNS_SERVERS);
  if (isProduction && (autoconfigUrls.length > 0 || dnsServers.length > 0)) {
    throw new ConfigError("SMTP_AUTOCONFIG_URLS and SMTP_DISCOVERY_DNS_SERVERS are for tests: unset them in production");
  }
  return {
    timeoutMs: env.SMTP_DISCOVERY_TIMEOUT_MS,
    autoconfigUrls: autoconfigUrls.length > 0 ? autoconfigUrls : STANDARD_AUTOCONFIG_URLS,
    ...(dnsServers.length > 0 ? { dnsServers } : {}),
    hostPolicy: mailHosts,
  };
}

/**
 * The deployment's own address for fan-out: configured, else the platform's. Never the request's Host
 * header, which the client chooses (it would let a caller aim the secret-bearing requests elsewhere).
 */
function fanoutBaseUrl(env: z.infer<typeof envSchema>, platform: Platform): string | undefined {
  const configured = env.FANOUT_BASE_URL ?? env.PUBLIC_BASE_URL;
  if (configured) {
    if (env.FANOUT_MAX_INVOCATIONS > 0) assertSecretSafeUrl(configured);
    return configured.replace(/\/+$/, "");
  }
  // Vercel: the production domain in production (deployment URLs may sit behind Deployment Protection).
  const vercelHost = env.VERCEL_ENV === "production" ? (env.VERCEL_PROJECT_PRODUCTION_URL ?? env.VERCEL_URL) : env.VERCEL_URL;
  if (platform === "vercel" && vercelHost) return `https://${vercelHost}`;
  if (platform === "netlify" && env.URL) return env.URL.replace(/\/+$/, "");
  return undefined;
}

/**
 * Fan-out sends CRON_SECRET to its address: only over TLS, or in plain http to this very machine
 * (a loopback address, or `localhost`), where nothing on the wire can read it.
 */
function assertSecretSafeUrl(url: string): void {
  const { protocol, hostname } = new URL(url);
  if (protocol === "https:") return;
  const host = hostname.replace(/^\[(.*)\]$/, "$1");
  const isLoopback = host === "localhost" || (isIP(host) !== 0 && LOOPBACK.check(host, isIP(host) === 4 ? "ipv4" : "ipv6"));
  if (protocol === "http:" && isLoopback) return;
  throw new ConfigError(
    "FANOUT_BASE_URL (or PUBLIC_BASE_URL, its default) must start with https://: fan-out sends CRON_SECRET to it (plain http:// only for a loopback host)",
  );
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/**
 * The platform, from the variables it sets in its functions at run time. Netlify's `NETLIFY` is a
 * build variable: a function sees `SITE_ID` with `URL` or `SITE_NAME` instead.
 */
function platformOf(env: z.infer<typeof envSchema>): Platform {
  if (env.VERCEL) return "vercel";
  if (env.NETLIFY || (env.SITE_ID && (env.URL || env.SITE_NAME))) return "netlify";
  return "node";
}

/** PGlite for `pglite:` URLs and plain paths, Neon for Neon hosts, node-postgres otherwise. */
function driverFor(url: string): DatabaseDriver {
  if (url.startsWith("pglite:") || url.startsWith("file:") || !url.includes("://")) return "pglite";
  try {
    if (new URL(url).hostname.endsWith(".neon.tech")) return "neon";
  } catch {
    // Not a parseable URL: let node-postgres report it.
  }
  return "pg";
}

/** True when the platform's Intl knows `name` as a time zone ("Europe/Paris"; not "Paris"). */
function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
