// `lokario-cron companies sms ID`: sets how a company's follow-ups go out by SMS, in
// `company_settings.settings.sms` (see `lib/followups/sms-settings.ts`): its own Vonage or SMPP
// account, its secret encrypted with ENCRYPTION_KEY as mailbox passwords are and read from stdin
// or a named environment variable (never argv), or the deployment's account again; its sender name
// and segment cap; and how its own Vonage account's webhooks prove themselves: Vonage's signature
// (the signature secret, encrypted) or a webhook secret made here, shown once and kept only as its
// SHA-256. Other settings, of the `sms` object or beyond, are kept; a Vonage account given again
// with the same key keeps its webhook credentials.

import { randomBytes } from "node:crypto";
import { eq, sql } from "drizzle-orm";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { rowsOf } from "../../lib/db/client.js";
import { companies, companySettings } from "../../lib/db/schema.js";
import { VONAGE_SIGNATURE_METHODS, type VonageSignatureMethod } from "../../lib/config.js";
import { parseSmsAccountSettings, SMS_SETTINGS_RULES } from "../../lib/sms/sms-account-settings.js";
import { VONAGE_WEBHOOK_PATH } from "../../lib/sms/sms-endpoints.js";
import { webhookSecretDigest } from "../../lib/sms/vonage-webhook-auth.js";
import { countOf } from "./count-words.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { secretFrom } from "./read-password.js";
import { CliError, UsageError } from "./usage.js";

/** The keys of the company's own account: replaced together, or removed together by --global. */
const ACCOUNT_KEYS = ["provider", "vonage", "smpp"];
/** The webhook credentials of a Vonage account, kept while its key stays the same. */
const WEBHOOK_KEYS = ["signature_secret", "signature_method", "webhook_secret_sha256"];

export async function companySmsCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values, positionals } = parseCommand(args, {
    vonage: { type: "string" },
    smpp: { type: "string" },
    "system-id": { type: "string" },
    "system-type": { type: "string" },
    global: { type: "boolean" },
    "sender-name": { type: "string" },
    "max-segments": { type: "string" },
    "secret-env": { type: "string" },
    "webhook-secret": { type: "boolean" },
    "vonage-signature": { type: "string" },
    "signature-secret-env": { type: "string" },
  }, ["ID"]);
  const companyId = parseId(positionals[0], "ID");
  const accounts = [values.vonage !== undefined, values.smpp !== undefined, values.global === true].filter(Boolean).length;
  if (accounts > 1) throw new UsageError("give one of --vonage, --smpp and --global");
  const isNewWebhookSecret = values["webhook-secret"] === true;
  const signatureMethod = signatureMethodOf(values["vonage-signature"]);
  const isWebhookChange = isNewWebhookSecret || signatureMethod !== undefined;
  if (accounts === 0 && values["sender-name"] === undefined && values["max-segments"] === undefined && !isWebhookChange) {
    throw new UsageError("nothing to change: give --vonage KEY, --smpp URL, --global, --sender-name, --max-segments, --webhook-secret or --vonage-signature");
  }
  if (isWebhookChange && (values.smpp !== undefined || values.global === true)) {
    throw new UsageError("--webhook-secret and --vonage-signature are for a company's own Vonage account, not with --smpp or --global");
  }
  if (values["signature-secret-env"] !== undefined && (signatureMethod === undefined || signatureMethod === "off")) {
    throw new UsageError("--signature-secret-env goes with --vonage-signature METHOD");
  }
  if (values.vonage !== undefined && values["secret-env"] === undefined && signatureMethod !== undefined && signatureMethod !== "off" && values["signature-secret-env"] === undefined) {
    throw new UsageError("standard input gives one secret: pass the API secret with --secret-env VAR or the signature secret with --signature-secret-env VAR");
  }
  if (values.smpp === undefined && (values["system-id"] !== undefined || values["system-type"] !== undefined)) {
    throw new UsageError("--system-id and --system-type go with --smpp");
  }
  const patch: Record<string, unknown> = {};
  if (values["sender-name"] !== undefined) {
    const name = SMS_SETTINGS_RULES.senderName.safeParse(values["sender-name"]);
    if (!name.success) throw new UsageError(`--sender-name must be 1 to 11 letters, digits or spaces with a letter, got "${values["sender-name"]}"`);
    patch.sender_name = name.data;
  }
  if (values["max-segments"] !== undefined) {
    const segments = SMS_SETTINGS_RULES.maxSegments.safeParse(values["max-segments"]);
    if (!segments.success) throw new UsageError(`--max-segments must be a whole number from 1 to 10, got "${values["max-segments"]}"`);
    patch.max_segments = segments.data;
  }
  const vonageKey = values.vonage?.trim();
  if (vonageKey === "") throw new UsageError("--vonage needs the account's API key");
  if (values.smpp !== undefined) {
    if (!SMS_SETTINGS_RULES.smpp.shape.url.safeParse(values.smpp).success) {
      throw new UsageError(`--smpp must be smpp://HOST[:PORT] or ssmpp://HOST[:PORT] (TLS), got "${values.smpp}"`);
    }
    if (!values["system-id"]?.trim()) throw new UsageError("--smpp needs --system-id");
  }
  const keys = { encryptionKey: ctx.config.encryptionKey };
  // Fail on a missing or malformed key before anyone types a secret.
  if (vonageKey !== undefined || values.smpp !== undefined || (signatureMethod !== undefined && signatureMethod !== "off")) encryptSecret("", keys);

  return ctx.withDatabase("companies sms", async ({ db }) => {
    const [company] = await db.select({ name: companies.name }).from(companies).where(eq(companies.id, companyId));
    if (!company) throw new CliError(`company ${companyId} does not exist`);
    const storedVonage = async (tx: Pick<typeof db, "execute">, lock: boolean) => {
      const [current] = rowsOf<{ sms: unknown }>(await tx.execute(sql`select settings -> 'sms' as sms from ${companySettings} where company_id = ${companyId} ${lock ? sql`for update` : sql``}`));
      const vonage = parseStored(current?.sms)?.vonage;
      return isObject(vonage) ? vonage : undefined;
    };
    if (isWebhookChange && vonageKey === undefined && typeof (await storedVonage(db, false))?.api_key !== "string") {
      throw new CliError(`company ${companyId} has no Vonage account of its own: give --vonage KEY first`);
    }
    // Every secret is read before the settings row is locked: nobody waits on someone typing.
    const apiSecret = vonageKey !== undefined ? await secretFrom(values["secret-env"], "Vonage API secret: ", ctx) : undefined;
    const smppPassword = values.smpp !== undefined ? await secretFrom(values["secret-env"], "SMPP password: ", ctx) : undefined;
    const signatureSecret = signatureMethod !== undefined && signatureMethod !== "off"
      ? await secretFrom(values["signature-secret-env"], "Vonage signature secret: ", ctx)
      : undefined;
    // Locked until the write, so the Vonage object merged below is the one replaced.
    const { stored, webhookSecret } = await db.transaction(async (tx) => {
      const currentVonage = await storedVonage(tx, true);
      if (isWebhookChange && vonageKey === undefined && typeof currentVonage?.api_key !== "string") {
        throw new CliError(`company ${companyId} has no Vonage account of its own: give --vonage KEY first`);
      }
      let vonage: Record<string, unknown> | undefined;
      if (vonageKey !== undefined) {
        // The same key again (a new API secret): its webhooks keep proving themselves as before.
        const kept = currentVonage?.api_key === vonageKey ? pick(currentVonage, WEBHOOK_KEYS) : {};
        vonage = { ...kept, api_key: vonageKey, api_secret: encryptSecret(apiSecret!, keys) };
        Object.assign(patch, { provider: "vonage" });
      } else if (values.smpp !== undefined) {
        const smpp = { url: values.smpp, system_id: values["system-id"]!.trim(), password: encryptSecret(smppPassword!, keys), ...(values["system-type"] ? { system_type: values["system-type"] } : {}) };
        Object.assign(patch, { provider: "smpp", smpp });
      }
      let webhookSecret: string | undefined;
      if (isWebhookChange) {
        vonage ??= { ...currentVonage };
        if (signatureMethod === "off") {
          delete vonage.signature_secret;
          delete vonage.signature_method;
        } else if (signatureMethod !== undefined) {
          Object.assign(vonage, { signature_secret: encryptSecret(signatureSecret!, keys), signature_method: signatureMethod });
        }
        if (isNewWebhookSecret) {
          webhookSecret = randomBytes(32).toString("hex");
          vonage.webhook_secret_sha256 = webhookSecretDigest(webhookSecret);
        }
      }
      if (vonage) patch.vonage = vonage;
      // A new account (or --global) replaces the old one whole: its keys not in the patch go.
      const removed = accounts > 0 ? ACCOUNT_KEYS.filter((k) => !(k in patch)) : [];
      // One statement: what the app wrote meanwhile to other keys is kept.
      const sms = sql`case when jsonb_typeof(${companySettings.settings} -> 'sms') = 'object' then ${companySettings.settings} -> 'sms' else '{}'::jsonb end`;
      const result = await tx.execute(sql`
        insert into ${companySettings} (company_id, settings) values (${companyId}, jsonb_build_object('sms', ${JSON.stringify(patch)}::jsonb))
        on conflict (company_id) do update set
          settings = ${companySettings.settings} || jsonb_build_object('sms', (${sms} - ${sql.param(removed)}::text[]) || ${JSON.stringify(patch)}::jsonb),
          updated_at = now()
        returning settings -> 'sms' as sms`);
      const [row] = rowsOf<{ sms: unknown }>(result);
      return { stored: parseStored(row?.sms), webhookSecret };
    });
    const read = parseSmsAccountSettings(stored, []);
    const webhooks = read.vonage?.signatureSecretStored ? `signed (${read.vonage.signatureMethod ?? "md5hash"})` : read.vonage?.webhookSecretSha256 ? "secret" : read.vonage ? "none" : undefined;
    const summary = {
      companyId, provider: read.provider ?? "global", vonageApiKey: read.vonage?.apiKey, smppUrl: read.smpp?.url, senderName: read.senderName, maxSegments: read.maxSegments,
      vonageWebhooks: webhooks, ...(webhookSecret ? { webhookSecret, webhookPath: `${VONAGE_WEBHOOK_PATH}?secret=${webhookSecret}` } : {}),
    };
    const account = read.provider === "vonage" ? `its own Vonage account (key ${read.vonage?.apiKey})` : read.provider === "smpp" ? `its own SMPP account (${read.smpp?.url}, ${read.smpp?.systemId})` : "the deployment's account (SMS_PROVIDER)";
    const extras = [read.senderName && `sender ${read.senderName}`, read.maxSegments && `at most ${countOf(read.maxSegments, "segment")}`].filter(Boolean).join(", ");
    const lines = [`company ${companyId} (${company.name}): texts through ${account}${extras ? `, ${extras}` : ""}`];
    if (webhooks?.startsWith("signed")) lines.push(`Its Vonage webhooks must be signed, ${webhooks.slice(8, -1)}: set them to https://<this deployment>${VONAGE_WEBHOOK_PATH} in Vonage's API settings of key ${read.vonage!.apiKey}.`);
    if (webhookSecret) {
      lines.push(
        `Webhook secret, shown this once (only its SHA-256 is kept): ${webhookSecret}`,
        `In Vonage's API settings of key ${read.vonage!.apiKey}, set the delivery receipt and inbound SMS webhooks to https://<this deployment>${VONAGE_WEBHOOK_PATH}?secret=${webhookSecret}`,
      );
    }
    if (webhooks === "none") lines.push(`Its delivery receipts and STOP answers are refused until its webhooks can prove themselves: run again with --webhook-secret, or --vonage-signature METHOD.`);
    ctx.print(values.json, summary, lines.join("\n"));
    return 0;
  });
}

/** `--vonage-signature`: one of Vonage's methods, or "off". */
function signatureMethodOf(value: string | undefined): VonageSignatureMethod | "off" | undefined {
  if (value === undefined) return undefined;
  const method = value.trim().toLowerCase();
  if (method === "off" || (VONAGE_SIGNATURE_METHODS as readonly string[]).includes(method)) return method as VonageSignatureMethod | "off";
  throw new UsageError(`--vonage-signature must be one of ${VONAGE_SIGNATURE_METHODS.join(", ")} or off, got "${value}"`);
}

/** `settings -> 'sms'` as a driver returns it (an object, or JSON text). */
function parseStored(value: unknown): Record<string, unknown> | undefined {
  const parsed = typeof value === "string" ? (JSON.parse(value) as unknown) : value;
  return isObject(parsed) ? parsed : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function pick(source: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => k in source).map((k) => [k, source[k]]));
}
