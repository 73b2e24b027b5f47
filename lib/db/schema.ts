// The database schema: the tables the jobs share with the Lokario app (names and French values from
// the data contract) plus the columns and tables the jobs add, each marked "added" in its JSDoc.

import { sql } from "drizzle-orm";
import type { ErrorKind } from "../errors.js";
import {
  bigint,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

// ---------------------------------------------------------------------------------------------
// Stored values (the original product's French strings, kept exactly)

export const INVOICE_STATUSES = ["brouillon", "envoyée", "payée", "impayée", "en retard", "annulée"] as const;
export const INVOICE_STATUS = {
  draft: "brouillon", sent: "envoyée", paid: "payée", unpaid: "impayée", overdue: "en retard", cancelled: "annulée",
} as const satisfies Record<string, (typeof INVOICE_STATUSES)[number]>;

export const QUOTE_STATUSES = ["brouillon", "envoyé", "vu", "accepté", "refusé"] as const;
export const QUOTE_STATUS = {
  draft: "brouillon", sent: "envoyé", seen: "vu", accepted: "accepté", refused: "refusé",
} as const satisfies Record<string, (typeof QUOTE_STATUSES)[number]>;

export const CONVERSATION_STATUSES = ["À répondre", "En attente", "Répondu", "Résolu", "Urgent", "Archivé", "Spam"] as const;
export const CONVERSATION_STATUS = {
  toAnswer: "À répondre", waiting: "En attente", answered: "Répondu", resolved: "Résolu",
  urgent: "Urgent", archived: "Archivé", spam: "Spam",
} as const satisfies Record<string, (typeof CONVERSATION_STATUSES)[number]>;

export const MESSAGE_SOURCE_EMAIL = "email";
export const INTEGRATION_TYPE_IMAP = "imap";
/** The unique index that refuses a second active row for the same mailbox (added). */
export const INTEGRATION_UNIQUE_INDEX = "inbox_integrations_mailbox_key";
/** The unique index that keeps one row per message per company mailbox (added). */
export const MESSAGE_MAILBOX_UNIQUE_INDEX = "inbox_messages_mailbox_dedupe_key";
export const SYNC_STATUS = { success: "success", error: "error" } as const;
/** How a mailbox logs in (added): its stored password, or an OAuth2 access token (SASL XOAUTH2). */
export const AUTH_METHODS = ["password", "oauth2"] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];
export const OAUTH_PROVIDERS = ["google", "microsoft", "oidc"] as const;
/**
 * How a mailbox's mail is read and sent (added): IMAP and SMTP, Microsoft Graph (a Microsoft 365
 * tenant that turned IMAP or SMTP AUTH off, or a shared mailbox), or the Gmail API.
 */
export const MAIL_TRANSPORTS = ["imap", "graph", "gmail-api"] as const;
export type MailTransport = (typeof MAIL_TRANSPORTS)[number];
/** The push services that tell the product a mailbox changed (added). */
export const PUSH_PROVIDERS = ["graph", "gmail"] as const;
export type PushProvider = (typeof PUSH_PROVIDERS)[number];
export type OAuthProviderName = (typeof OAUTH_PROVIDERS)[number];
export const ATTACHMENT_FILE_TYPES = ["image", "pdf", "document", "other"] as const;
/** The folders a mailbox can have synced (added), by role: its INBOX and its Sent folder. */
export const FOLDER_ROLES = ["inbox", "sent"] as const;
export type FolderRole = (typeof FOLDER_ROLES)[number];
/** Which way a synced folder's mail goes (added): mail to the business, or mail the business sent. */
export const MESSAGE_DIRECTIONS = ["inbound", "outbound"] as const;
export type MessageDirection = (typeof MESSAGE_DIRECTIONS)[number];

export const FOLLOWUP_TYPES = [
  "Devis non répondu", "Facture impayée", "Info manquante", "Rappel RDV", "Client inactif", "Projet en attente",
] as const;
export const FOLLOWUP_TYPE = {
  unansweredQuote: "Devis non répondu", unpaidInvoice: "Facture impayée", missingInfo: "Info manquante",
  appointmentReminder: "Rappel RDV", inactiveClient: "Client inactif", pendingProject: "Projet en attente",
} as const satisfies Record<string, (typeof FOLLOWUP_TYPES)[number]>;

export const FOLLOWUP_SOURCE_TYPES = ["quote", "invoice", "appointment", "project", "conversation", "manual"] as const;
export const FOLLOWUP_STATUSES = ["À faire", "Fait", "En attente"] as const;
export const FOLLOWUP_STATUS = { todo: "À faire", done: "Fait", waiting: "En attente" } as const satisfies Record<
  string,
  (typeof FOLLOWUP_STATUSES)[number]
>;
export const HISTORY_STATUS = { sent: "envoyé", read: "lu", answered: "répondu" } as const;
export const HISTORY_MESSAGE_TYPE_EMAIL = "email";
export const HISTORY_MESSAGE_TYPE_SMS = "sms";
/** The channels an automatic follow-up step can go through (added). */
export const FOLLOWUP_CHANNELS = ["email", "sms"] as const;
export type FollowupChannelName = (typeof FOLLOWUP_CHANNELS)[number];

/** States of one automatic send attempt (added): see `followup_send_attempts`. */
export const SEND_ATTEMPT_STATES = ["sending", "sent", "failed", "uncertain"] as const;
export type SendAttemptState = (typeof SEND_ATTEMPT_STATES)[number];

const createdAt = () => timestamp("created_at", { withTimezone: true }).notNull().defaultNow();
const updatedAt = () => timestamp("updated_at", { withTimezone: true }).notNull().defaultNow();
const money = (name: string) => numeric(name, { precision: 10, scale: 2 });

// ---------------------------------------------------------------------------------------------
// Owned by the app, read by the jobs

export const companies = pgTable("companies", {
  id: serial("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const companySettings = pgTable("company_settings", {
  id: serial("id").primaryKey(),
  companyId: integer("company_id").notNull().unique().references(() => companies.id, { onDelete: "cascade" }),
  settings: jsonb("settings").notNull().default({}),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const clients = pgTable(
  "clients",
  {
    id: serial("id").primaryKey(),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    email: text("email"),
    phone: text("phone"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("clients_company_email_idx").on(t.companyId, sql`lower(${t.email})`)],
);

export const invoices = pgTable("invoices", {
  id: serial("id").primaryKey(),
  companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
  clientId: integer("client_id").references(() => clients.id, { onDelete: "set null" }),
  number: text("number").notNull(),
  status: text("status").notNull().default(INVOICE_STATUS.draft),
  totalTtc: money("total_ttc"),
  amount: money("amount"),
  dueDate: timestamp("due_date", { withTimezone: true }),
  paidAt: timestamp("paid_at", { withTimezone: true }),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const quotes = pgTable("quotes", {
  id: serial("id").primaryKey(),
  companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
  clientId: integer("client_id").references(() => clients.id, { onDelete: "set null" }),
  number: text("number").notNull(),
  status: text("status").notNull().default(QUOTE_STATUS.draft),
  totalTtc: money("total_ttc"),
  amount: money("amount"),
  validUntil: timestamp("valid_until", { withTimezone: true }),
  acceptedAt: timestamp("accepted_at", { withTimezone: true }),
  refusedAt: timestamp("refused_at", { withTimezone: true }),
  clientSignaturePath: text("client_signature_path"),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

// ---------------------------------------------------------------------------------------------
// Inbox

/**
 * A company's mailbox. Added beside the contract's columns: `imap_username`, `tls_reject_unauthorized`
 * (opt-out for self-signed servers), the first-sync window (`initial_sync_days`,
 * `initial_sync_max_messages`), scheduling and health (`next_sync_at`, `consecutive_failures`,
 * `auth_failures`, `last_sync_error_kind`: the kind of `last_sync_error`, which gives its wording,
 * `failing_since`, `last_success_at`, `failure_alerted_at`: when the owner was told it keeps failing),
 * the lease (`lease_owner`, `lease_until`) and the sending settings (`smtp_*`; a null
 * `smtp_password` reuses the IMAP password), and OAuth2 logins (`auth_method`, `oauth_provider`, the encrypted `oauth_refresh_token` and cached
 * `oauth_access_token` with its expiry, `oauth_refresh_lease_until`: the one run refreshing the token
 * right now, `oauth_reconnect_needed_at`: the provider refused the grant, a person must connect again, and
 * `oauth_consenting_account`: the account whose consent the tokens carry; it differs from
 * `email_address` for a shared mailbox, which that account opens with its own token),
 * `synced_folders`: the roles of the folders the sync reads (`inbox`, `sent`; both by default), and
 * `connected_at`: when this login on this server was connected; a message a first sync finds dated
 * after it is live mail, one dated before it backfill (`backfill-rule.ts`),
 * `mail_transport`: how its mail is read and sent (`imap` for IMAP and SMTP, `graph`, `gmail-api`;
 * the row stays `integration_type` `imap` for the app: a mailbox this service syncs), and
 * `mail_transport_reason`: why the product chose that transport itself (null when a person chose it).
 */
export const inboxIntegrations = pgTable(
  "inbox_integrations",
  {
    id: serial("id").primaryKey(),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    integrationType: text("integration_type").notNull().default(INTEGRATION_TYPE_IMAP),
    name: text("name"),
    imapServer: text("imap_server"),
    imapPort: integer("imap_port").default(993),
    emailAddress: text("email_address"),
    imapUsername: text("imap_username"),
    emailPassword: text("email_password"),
    useSsl: boolean("use_ssl").notNull().default(true),
    tlsRejectUnauthorized: boolean("tls_reject_unauthorized").notNull().default(true),
    isActive: boolean("is_active").notNull().default(true),
    isPrimary: boolean("is_primary").notNull().default(false),
    syncIntervalMinutes: integer("sync_interval_minutes").notNull().default(5),
    lastSyncAt: timestamp("last_sync_at", { withTimezone: true }),
    lastSyncStatus: text("last_sync_status"),
    lastSyncError: text("last_sync_error"),
    lastSyncErrorKind: text("last_sync_error_kind").$type<ErrorKind>(),
    initialSyncDays: integer("initial_sync_days").notNull().default(30),
    initialSyncMaxMessages: integer("initial_sync_max_messages").notNull().default(500),
    nextSyncAt: timestamp("next_sync_at", { withTimezone: true }),
    consecutiveFailures: integer("consecutive_failures").notNull().default(0),
    authFailures: integer("auth_failures").notNull().default(0),
    failingSince: timestamp("failing_since", { withTimezone: true }),
    lastSuccessAt: timestamp("last_success_at", { withTimezone: true }),
    failureAlertedAt: timestamp("failure_alerted_at", { withTimezone: true }),
    leaseOwner: text("lease_owner"),
    leaseUntil: timestamp("lease_until", { withTimezone: true }),
    smtpServer: text("smtp_server"),
    smtpPort: integer("smtp_port"),
    smtpUseSsl: boolean("smtp_use_ssl"),
    smtpUsername: text("smtp_username"),
    smtpPassword: text("smtp_password"),
    authMethod: text("auth_method").$type<AuthMethod>().notNull().default("password"),
    oauthProvider: text("oauth_provider").$type<OAuthProviderName>(),
    oauthRefreshToken: text("oauth_refresh_token"),
    oauthAccessToken: text("oauth_access_token"),
    oauthAccessTokenExpiresAt: timestamp("oauth_access_token_expires_at", { withTimezone: true }),
    oauthRefreshLeaseUntil: timestamp("oauth_refresh_lease_until", { withTimezone: true }),
    oauthReconnectNeededAt: timestamp("oauth_reconnect_needed_at", { withTimezone: true }),
    oauthConsentingAccount: text("oauth_consenting_account"),
    syncedFolders: text("synced_folders").array().$type<FolderRole[]>().notNull().default(sql`'{inbox,sent}'::text[]`),
    connectedAt: timestamp("connected_at", { withTimezone: true }).notNull().defaultNow(),
    mailTransport: text("mail_transport").$type<MailTransport>().notNull().default("imap"),
    mailTransportReason: text("mail_transport_reason"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("inbox_integrations_due_idx").on(t.isActive, t.nextSyncAt),
    // One active mailbox per company, login and server: a second row for the same account would
    // import every message twice. The login is `imap_username`, else the address (as `imapLogin`),
    // compared without case; inactive rows are left out so a disabled duplicate can be kept.
    uniqueIndex(INTEGRATION_UNIQUE_INDEX)
      .on(
        t.companyId,
        sql`lower(coalesce(nullif(btrim(${t.imapUsername}), ''), btrim(${t.emailAddress})))`,
        sql`lower(btrim(${t.imapServer}))`,
      )
      .where(sql`${t.isActive}`),
  ],
);

/**
 * Added: an OAuth2 authorization in progress (RFC 6749 §10.12, RFC 7636). Keyed by the SHA-256 of
 * `state`, so a database read does not hand out a usable state; redeemed once (`redeemed_at`) and
 * only before `expires_at`. Holds the PKCE verifier (encrypted) and the company it connects.
 * `browser_binding_hash`: the SHA-256 of the nonce in the cookie of the browser that started it
 * (null for the CLI, which takes the redirect itself); the callback needs that cookie.
 * `mailbox_address`: the shared mailbox to connect, chosen when the flow starts (null: the consenting
 * person's own mailbox); never read from the provider's redirect. `mail_transport`: the transport
 * chosen when the flow started (`imap`, `graph`; null: IMAP), which decides the scopes asked for and
 * is stored on the integration. Between the callback and the
 * person's confirmation, `email_address` (the consenting account) and `pending_tokens` (encrypted
 * JSON) hold what the provider granted; nothing is stored in `inbox_integrations` before that.
 */
export const oauthAuthorizationRequests = pgTable(
  "oauth_authorization_requests",
  {
    stateHash: text("state_hash").primaryKey(),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    provider: text("provider").$type<OAuthProviderName>().notNull(),
    codeVerifier: text("code_verifier").notNull(),
    redirectUri: text("redirect_uri").notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
    browserBindingHash: text("browser_binding_hash"),
    redeemedAt: timestamp("redeemed_at", { withTimezone: true }),
    mailboxAddress: text("mailbox_address"),
    mailTransport: text("mail_transport").$type<MailTransport>(),
    emailAddress: text("email_address"),
    pendingTokens: text("pending_tokens"),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("oauth_authorization_requests_browser_binding_key").on(t.browserBindingHash)],
);

/**
 * Added: the signed start links already used (by the SHA-256 of their nonce), so each works once.
 * A row is kept until the link itself expires, then swept.
 */
export const oauthStartLinkUses = pgTable("oauth_start_link_uses", {
  nonceHash: text("nonce_hash").primaryKey(),
  expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  usedAt: timestamp("used_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Added: the UID cursor of one folder of one integration (RFC 3501 UIDVALIDITY + last UID seen).
 * `backfill_until_uid`: the highest UID that existed when a first sync or a UIDVALIDITY resync began;
 * UIDs up to it are imported only inside the recent window, as backfill (never triggering
 * automation) unless dated after the mailbox was connected, even when that import spans several runs.
 * `source_cursor`: the opaque cursor of a source without UIDs (Graph's deltaLink or nextLink, Gmail's
 * historyId); such a folder keeps `uidvalidity` 0 and `last_uid` 0, and its `backfill_until_uid` is
 * non-null only while the round being read is the recent window of a first sync or a resync.
 * `opens_read_write`: the server gave a new UIDVALIDITY to read-only sessions on consecutive syncs
 * (GNU imap4d with Maildir messages still in new/), so the folder is opened with SELECT (flags are
 * never changed: BODY.PEEK only). `fetch_shortfall_messages` / `fetch_shortfall_at`: messages a UID
 * SEARCH announced and the FETCH then did not return (the cursor moved past them), in all, and when last.
 */
export const inboxFolderCursors = pgTable(
  "inbox_folder_cursors",
  {
    id: serial("id").primaryKey(),
    integrationId: integer("integration_id").notNull().references(() => inboxIntegrations.id, { onDelete: "cascade" }),
    folder: text("folder").notNull(),
    uidValidity: bigint("uidvalidity", { mode: "number" }).notNull(),
    lastUid: bigint("last_uid", { mode: "number" }).notNull().default(0),
    uidValidityChanges: integer("uidvalidity_changes").notNull().default(0),
    backfillUntilUid: bigint("backfill_until_uid", { mode: "number" }),
    sourceCursor: text("source_cursor"),
    opensReadWrite: boolean("opens_read_write").notNull().default(false),
    fetchShortfallMessages: integer("fetch_shortfall_messages").notNull().default(0),
    fetchShortfallAt: timestamp("fetch_shortfall_at", { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex("inbox_folder_cursors_integration_folder_key").on(t.integrationId, t.folder)],
);

/** A thread. Added: `integration_id` and `subject_key` (normalized subject, for subject threading). */
export const conversations = pgTable(
  "conversations",
  {
    id: serial("id").primaryKey(),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    clientId: integer("client_id").references(() => clients.id, { onDelete: "set null" }),
    integrationId: integer("integration_id").references(() => inboxIntegrations.id, { onDelete: "set null" }),
    subject: text("subject"),
    subjectKey: text("subject_key"),
    status: text("status").notNull().default(CONVERSATION_STATUS.toAnswer),
    source: text("source").notNull().default(MESSAGE_SOURCE_EMAIL),
    unreadCount: integer("unread_count").notNull().default(0),
    lastMessageAt: timestamp("last_message_at", { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("conversations_company_subject_idx").on(t.companyId, t.subjectKey)],
);

/**
 * One message. `created_at` is the message's own date. Added: where it came from (`integration_id`,
 * `folder`, `uidvalidity`, `uid`), `dedupe_key` (the Message-ID, or a hash when it has none),
 * `company_id` and `mailbox_address` (the company mailbox it was imported from, by its lower-cased
 * address: kept when the integration is disabled, removed or added again, so that a message is one
 * row per company mailbox whatever the integration's id),
 * `html_content`, `is_auto_reply`, `is_bounce`, `is_backfill` (found by a first sync, dated before
 * the mailbox was connected: never triggers automation), `size_bytes`, `imported_at`,
 * `source_message_id`: the message's id at a source without UIDs (Graph's immutable id, Gmail's id),
 * whose rows leave `uidvalidity` and `uid` null. `source_thread_id`: the thread the source filed it
 * in (Gmail's `threadId`), so that a follow-up answering it through the same mailbox joins it.
 */
export const inboxMessages = pgTable(
  "inbox_messages",
  {
    id: serial("id").primaryKey(),
    conversationId: integer("conversation_id").notNull().references(() => conversations.id, { onDelete: "cascade" }),
    fromName: text("from_name"),
    fromEmail: text("from_email"),
    content: text("content"),
    source: text("source").notNull().default(MESSAGE_SOURCE_EMAIL),
    isFromClient: boolean("is_from_client").notNull().default(true),
    read: boolean("read").notNull().default(false),
    externalId: text("external_id"),
    externalMetadata: jsonb("external_metadata").notNull().default({}),
    integrationId: integer("integration_id").references(() => inboxIntegrations.id, { onDelete: "set null" }),
    folder: text("folder"),
    uidValidity: bigint("uidvalidity", { mode: "number" }),
    uid: bigint("uid", { mode: "number" }),
    dedupeKey: text("dedupe_key").notNull(),
    companyId: integer("company_id").references(() => companies.id, { onDelete: "cascade" }),
    mailboxAddress: text("mailbox_address"),
    htmlContent: text("html_content"),
    isAutoReply: boolean("is_auto_reply").notNull().default(false),
    isBounce: boolean("is_bounce").notNull().default(false),
    isBackfill: boolean("is_backfill").notNull().default(false),
    sizeBytes: integer("size_bytes"),
    importedAt: timestamp("imported_at", { withTimezone: true }).notNull().defaultNow(),
    sourceMessageId: text("source_message_id"),
    sourceThreadId: text("source_thread_id"),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex("inbox_messages_integration_uid_key").on(t.integrationId, t.folder, t.uidValidity, t.uid),
    uniqueIndex("inbox_messages_integration_source_id_key").on(t.integrationId, t.folder, t.sourceMessageId),
    uniqueIndex("inbox_messages_integration_dedupe_key").on(t.integrationId, t.dedupeKey),
    // The same message once per company mailbox, whichever of its integrations (a disabled twin, one
    // removed with its mail kept, one added again) found it. Rows without an address stay out (NULLs
    // are distinct): the key above still holds for them.
    uniqueIndex(MESSAGE_MAILBOX_UNIQUE_INDEX).on(t.companyId, t.mailboxAddress, t.dedupeKey),
    index("inbox_messages_conversation_idx").on(t.conversationId, t.createdAt),
    index("inbox_messages_external_id_idx").on(t.externalId),
  ],
);

/**
 * Added: a message that could not be imported, with its reason; the sync goes on after it.
 * `direction` is its folder's (a message set aside from Sent is the business's own when re-imported).
 * `source_message_id`: the message's id at a source without UIDs (Graph, Gmail), whose rows leave
 * `uidvalidity` and `uid` null.
 */
export const inboxQuarantine = pgTable(
  "inbox_quarantine",
  {
    id: serial("id").primaryKey(),
    integrationId: integer("integration_id").notNull().references(() => inboxIntegrations.id, { onDelete: "cascade" }),
    folder: text("folder").notNull(),
    uidValidity: bigint("uidvalidity", { mode: "number" }),
    uid: bigint("uid", { mode: "number" }),
    sourceMessageId: text("source_message_id"),
    direction: text("direction").$type<MessageDirection>().notNull().default("inbound"),
    reason: text("reason").notNull(),
    rawPath: text("raw_path"),
    sizeBytes: integer("size_bytes"),
    attempts: integer("attempts").notNull().default(1),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex("inbox_quarantine_integration_uid_key").on(t.integrationId, t.folder, t.uidValidity, t.uid),
    uniqueIndex("inbox_quarantine_integration_source_id_key").on(t.integrationId, t.folder, t.sourceMessageId),
  ],
);

/**
 * Added: a push subscription that tells the product a mailbox changed (a Graph change-notification
 * subscription per folder, a Gmail watch per mailbox: `folder` `*`). `subscription_id` is the
 * provider's id; `client_state_hash` the SHA-256 of the secret Graph echoes (null for Gmail, whose
 * pushes are signed tokens); `expires_at` when the provider drops it unless renewed; `state` `active`,
 * `refused` (the provider or the tenant declined it: the mailbox is polled) or `removed`;
 * `last_error` why, in the operator's words; `last_notified_at` the last push received.
 */
export const mailPushSubscriptions = pgTable(
  "mail_push_subscriptions",
  {
    id: serial("id").primaryKey(),
    integrationId: integer("integration_id").notNull().references(() => inboxIntegrations.id, { onDelete: "cascade" }),
    provider: text("provider").$type<PushProvider>().notNull(),
    folder: text("folder").notNull(),
    subscriptionId: text("subscription_id"),
    clientStateHash: text("client_state_hash"),
    expiresAt: timestamp("expires_at", { withTimezone: true }),
    state: text("state").$type<"active" | "refused" | "removed">().notNull().default("active"),
    lastError: text("last_error"),
    lastNotifiedAt: timestamp("last_notified_at", { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex("mail_push_subscriptions_integration_folder_key").on(t.integrationId, t.provider, t.folder),
    uniqueIndex("mail_push_subscriptions_provider_id_key").on(t.provider, t.subscriptionId),
    index("mail_push_subscriptions_expiry_idx").on(t.state, t.expiresAt),
  ],
);

/**
 * Added: how many IMAP sessions at once each mail host accepted (`lib/inbox/host-concurrency.ts`),
 * keyed like the claim's host key (`imapHostKey`), so the next run starts from what the host took
 * instead of the safe default. `refused_at_sessions`: the fewest sessions at once the host refused
 * (a session past its limit), with when, so growth stops below it until it is forgotten.
 */
export const imapHostConcurrency = pgTable("imap_host_concurrency", {
  hostKey: text("host_key").primaryKey(),
  sessionBound: integer("session_bound").notNull(),
  refusedAtSessions: integer("refused_at_sessions"),
  refusedAt: timestamp("refused_at", { withTimezone: true }),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull(),
});

/** An attachment. Added: `content_id` (inline parts) and `is_stored` (false when over the size limit). */
export const messageAttachments = pgTable(
  "message_attachments",
  {
    id: serial("id").primaryKey(),
    messageId: integer("message_id").notNull().references(() => inboxMessages.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    fileType: text("file_type").notNull().default("other"),
    filePath: text("file_path"),
    fileSize: bigint("file_size", { mode: "number" }),
    mimeType: text("mime_type"),
    contentId: text("content_id"),
    isStored: boolean("is_stored").notNull().default(true),
    createdAt: createdAt(),
  },
  (t) => [index("message_attachments_message_idx").on(t.messageId)],
);

/** Postgres `bytea`, read back as a Buffer whatever the driver (PGlite returns a Uint8Array). */
const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => "bytea",
  fromDriver: (value) => (Buffer.isBuffer(value) ? value : Buffer.from(value)),
});

/**
 * Added: attachment content and set-aside raw messages kept in the database itself
 * (`ATTACHMENTS_STORAGE=database`), for platforms whose disk does not outlive a request (Vercel,
 * Netlify). `message_attachments.file_path` / `inbox_quarantine.raw_path` then read `db:<key>`.
 */
export const storedFiles = pgTable("stored_files", {
  key: text("key").primaryKey(),
  content: bytea("content").notNull(),
  sizeBytes: integer("size_bytes").notNull(),
  createdAt: createdAt(),
});

/**
 * Added: what SMTP discovery (autoconfig, DNS SRV) last found for a mail domain, or that it found
 * nothing (`host` null). Public data about a domain, shared by every company using it; it spares each
 * follow-up run the lookups (up to seconds each) of domains already asked about.
 */
export const smtpDiscoveryResults = pgTable("smtp_discovery_results", {
  domain: text("domain").primaryKey(),
  host: text("host"),
  port: integer("port"),
  isSecure: boolean("is_secure"),
  source: text("source"),
  checkedAt: timestamp("checked_at", { withTimezone: true }).notNull(),
});

// ---------------------------------------------------------------------------------------------
// Follow-ups

export const followups = pgTable(
  "followups",
  {
    id: serial("id").primaryKey(),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    clientId: integer("client_id").references(() => clients.id, { onDelete: "set null" }),
    type: text("type").notNull(),
    sourceType: text("source_type").notNull().default("manual"),
    sourceId: integer("source_id"),
    sourceLabel: text("source_label"),
    dueDate: timestamp("due_date", { withTimezone: true }),
    status: text("status").notNull().default(FOLLOWUP_STATUS.todo),
    amount: money("amount"),
    autoEnabled: boolean("auto_enabled").notNull().default(false),
    autoFrequencyDays: integer("auto_frequency_days"),
    autoStopOnResponse: boolean("auto_stop_on_response").notNull().default(true),
    autoStopOnPaid: boolean("auto_stop_on_paid").notNull().default(true),
    autoStopOnRefused: boolean("auto_stop_on_refused").notNull().default(true),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("followups_auto_idx").on(t.autoEnabled, t.status)],
);

/**
 * One follow-up sent (automatic or manual). Added: `step` (automatic sends only), `is_automatic`,
 * `subject`, `recipient`, `message_id` (so the client's reply threads back), `smtp_response`, and
 * for SMS `delivery_status` / `delivery_status_at`: what the operator's delivery receipts said
 * (`submitted`, `delivered`, `failed`, `expired`…; see `sms_parts`).
 */
export const followupHistory = pgTable(
  "followup_history",
  {
    id: serial("id").primaryKey(),
    followupId: integer("followup_id").notNull().references(() => followups.id, { onDelete: "cascade" }),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    message: text("message"),
    messageType: text("message_type").notNull().default(HISTORY_MESSAGE_TYPE_EMAIL),
    status: text("status").notNull().default(HISTORY_STATUS.sent),
    sentByName: text("sent_by_name"),
    sentAt: timestamp("sent_at", { withTimezone: true }),
    conversationId: integer("conversation_id").references(() => conversations.id, { onDelete: "set null" }),
    step: integer("step"),
    isAutomatic: boolean("is_automatic").notNull().default(false),
    subject: text("subject"),
    recipient: text("recipient"),
    messageId: text("message_id"),
    smtpResponse: text("smtp_response"),
    deliveryStatus: text("delivery_status"),
    deliveryStatusAt: timestamp("delivery_status_at", { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [
    index("followup_history_followup_idx").on(t.followupId, t.sentAt),
    index("followup_history_message_id_idx").on(t.messageId),
  ],
);

/**
 * Added: one row per automatic (follow-up, step), inserted before SMTP is contacted. The unique key
 * is what makes a send happen at most once, whatever the number of concurrent pings.
 * `handed_over_at`: when the server had accepted the envelope (354 to DATA) and the message itself
 * was about to go; null while connecting, logging in or giving the envelope, when nothing can have
 * been delivered yet. `channel`: `email` or `sms`; for an SMS, `message_id` is the reference given
 * to the provider (Vonage's `client-ref`), `recipient` the E.164 number and `handed_over_at` the
 * moment the submit request was written; `sms_provider` is the account it goes through (as
 * `sms_parts.provider`) and `sms_sender` the sender shown on the phone, written with the claim so
 * that a STOP answering even an uncertain send finds the company and the account it came from.
 */
export const followupSendAttempts = pgTable(
  "followup_send_attempts",
  {
    id: serial("id").primaryKey(),
    followupId: integer("followup_id").notNull().references(() => followups.id, { onDelete: "cascade" }),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    clientId: integer("client_id"),
    step: integer("step").notNull(),
    state: text("state").$type<SendAttemptState>().notNull().default("sending"),
    channel: text("channel").$type<FollowupChannelName>().notNull().default("email"),
    messageId: text("message_id").notNull(),
    recipient: text("recipient").notNull(),
    subject: text("subject").notNull(),
    smsProvider: text("sms_provider"),
    smsSender: text("sms_sender"),
    /** The email account it goes through (Sender.key: `integration:<id>` or `global`): what its provider's sending limits are counted by. */
    senderKey: text("sender_key"),
    smtpResponse: text("smtp_response"),
    error: text("error"),
    historyId: integer("history_id"),
    leaseUntil: timestamp("lease_until", { withTimezone: true }).notNull(),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull(),
    handedOverAt: timestamp("handed_over_at", { withTimezone: true }),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex("followup_send_attempts_step_key").on(t.followupId, t.step),
    index("followup_send_attempts_client_day_idx").on(t.clientId, t.startedAt),
    index("followup_send_attempts_sender_idx").on(t.senderKey, t.startedAt),
  ],
);

/**
 * Added: an email account told by its provider that it reached a sending quota (Microsoft's
 * SubmissionQuotaExceeded, Gmail's daily quota, a 421 4.7.0 rate limit): nothing is sent through it
 * before `until`; its follow-ups stay due. One row per account (Sender.key), overwritten by the
 * next quota answer; `reason` is the provider's answer, shortened.
 */
export const sendingAccountWaits = pgTable("sending_account_waits", {
  accountKey: text("account_key").primaryKey(),
  companyId: integer("company_id").references(() => companies.id, { onDelete: "cascade" }),
  integrationId: integer("integration_id").references(() => inboxIntegrations.id, { onDelete: "cascade" }),
  until: timestamp("until", { withTimezone: true }).notNull(),
  reason: text("reason").notNull(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

// ---------------------------------------------------------------------------------------------
// SMS (added)

/**
 * One SMS part as the provider numbered it: a text of several segments is one Vonage message per
 * segment, and one `submit_sm` per segment over SMPP, each with its own id and its own receipt.
 * `provider`: `vonage` or `smpp:<account key>`. The history row's `delivery_status` sums these up.
 */
export const smsParts = pgTable(
  "sms_parts",
  {
    id: serial("id").primaryKey(),
    attemptId: integer("attempt_id").notNull().references(() => followupSendAttempts.id, { onDelete: "cascade" }),
    historyId: integer("history_id").references(() => followupHistory.id, { onDelete: "set null" }),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    provider: text("provider").notNull(),
    providerMessageId: text("provider_message_id").notNull(),
    partNumber: integer("part_number").notNull(),
    status: text("status").notNull().default("submitted"),
    errorCode: text("error_code"),
    statusAt: timestamp("status_at", { withTimezone: true }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("sms_parts_provider_message_key").on(t.provider, t.providerMessageId), index("sms_parts_history_idx").on(t.historyId)],
);

/**
 * A client's phone number that answered STOP (or another opt-out word) to a company's SMS: no
 * automatic SMS goes to it from that company again. `phone` is E.164.
 */
export const smsOptOuts = pgTable(
  "sms_opt_outs",
  {
    id: serial("id").primaryKey(),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    phone: text("phone").notNull(),
    keyword: text("keyword").notNull(),
    receivedAt: timestamp("received_at", { withTimezone: true }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("sms_opt_outs_company_phone_key").on(t.companyId, t.phone)],
);

// ---------------------------------------------------------------------------------------------
// Operations (added)

/**
 * How a run ended: `running` until it records its end; `success`; `partial` when some of its items
 * (mailboxes, sends) failed; `error` when it failed as a whole or every item it tried failed;
 * `abandoned` when it never recorded its end (killed).
 */
export const JOB_RUN_STATUSES = ["running", "success", "partial", "error", "abandoned"] as const;
export type JobRunStatus = (typeof JOB_RUN_STATUSES)[number];

/**
 * One run of a job (an HTTP ping, a CLI call, the local scheduler): what it did and how it ended.
 * `lease_until`: past it, a run still `running` can no longer be alive (its budget plus a grace).
 */
export const jobRuns = pgTable(
  "job_runs",
  {
    id: serial("id").primaryKey(),
    runId: text("run_id").notNull().unique(),
    job: text("job").notNull(),
    trigger: text("trigger").notNull(),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull(),
    leaseUntil: timestamp("lease_until", { withTimezone: true }).notNull(),
    finishedAt: timestamp("finished_at", { withTimezone: true }),
    status: text("status").$type<JobRunStatus>().notNull().default("running"),
    summary: jsonb("summary"),
    error: text("error"),
    createdAt: createdAt(),
  },
  (t) => [index("job_runs_job_started_idx").on(t.job, t.startedAt), index("job_runs_status_idx").on(t.status)],
);

/** A notice for a company's users (integration failing, recovered, a send needing a look). */
export const notifications = pgTable(
  "notifications",
  {
    id: serial("id").primaryKey(),
    companyId: integer("company_id").notNull().references(() => companies.id, { onDelete: "cascade" }),
    type: text("type").notNull(),
    title: text("title").notNull(),
    message: text("message").notNull(),
    link: text("link"),
    read: boolean("read").notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [index("notifications_company_idx").on(t.companyId, t.createdAt)],
);

/**
 * Added: wrong secrets typed into the operator's sign-in form, per client (`client_key`: a hash of
 * the client's address, never the address) and for everyone at once (`client_key` = `*`).
 * Serverless instances share nothing but the database, so the throttle lives here.
 */
export const operatorSignInFailures = pgTable("operator_sign_in_failures", {
  clientKey: text("client_key").primaryKey(),
  failures: integer("failures").notNull().default(0),
  lastFailureAt: timestamp("last_failure_at", { withTimezone: true }).notNull(),
  blockedUntil: timestamp("blocked_until", { withTimezone: true }),
});

/**
 * Added: the operator page's open sessions. The cookie is signed, but a signature cannot be recalled:
 * this row can, so signing out ends the session wherever its cookie was copied. `id_hash` is the
 * SHA-256 of the id the cookie carries (the table alone opens nothing).
 */
export const operatorSessions = pgTable(
  "operator_sessions",
  {
    idHash: text("id_hash").primaryKey(),
    startedAt: timestamp("started_at", { withTimezone: true }).notNull(),
    expiresAt: timestamp("expires_at", { withTimezone: true }).notNull(),
  },
  (t) => [index("operator_sessions_expires_idx").on(t.expiresAt)],
);
