// `lokario-cron companies sms ID`: sets how a company's follow-ups go out by SMS, in
// `company_settings.settings.sms` (see `lib/followups/sms-settings.ts`): its own Vonage or SMPP
// account, its secret encrypted with ENCRYPTION_KEY as mailbox passwords are and read from stdin
// or a named environment variable (never argv), or the deployment's account again; its sender name
// and segment cap. Other settings, of the `sms` object or beyond, are kept.

import { eq, sql } from "drizzle-orm";
import { encryptSecret } from "../../lib/crypto/secret-box.js";
import { rowsOf } from "../../lib/db/client.js";
import { companies, companySettings } from "../../lib/db/schema.js";
import { parseSmsSettings, SMS_SETTINGS_RULES } from "../../lib/followups/sms-settings.js";
import { countOf } from "./count-words.js";
import { type CliContext, parseCommand, parseId } from "./context.js";
import { secretFrom } from "./read-password.js";
import { CliError, UsageError } from "./usage.js";

/** The keys of the company's own account: replaced together, or removed together by --global. */
const ACCOUNT_KEYS = ["provider", "vonage", "smpp"];

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
  }, ["ID"]);
  const companyId = parseId(positionals[0], "ID");
  const accounts = [values.vonage !== undefined, values.smpp !== undefined, values.global === true].filter(Boolean).length;
  if (accounts > 1) throw new UsageError("give one of --vonage, --smpp and --global");
  if (accounts === 0 && values["sender-name"] === undefined && values["max-segments"] === undefined) {
    throw new UsageError("nothing to change: give --vonage KEY, --smpp URL, --global, --sender-name or --max-segments");
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
  if (vonageKey !== undefined || values.smpp !== undefined) encryptSecret("", keys);

  return ctx.withDatabase("companies sms", async ({ db }) => {
    const [company] = await db.select({ name: companies.name }).from(companies).where(eq(companies.id, companyId));
    if (!company) throw new CliError(`company ${companyId} does not exist`);
    if (vonageKey !== undefined) {
      const secret = await secretFrom(values["secret-env"], "Vonage API secret: ", ctx);
      Object.assign(patch, { provider: "vonage", vonage: { api_key: vonageKey, api_secret: encryptSecret(secret, keys) } });
    } else if (values.smpp !== undefined) {
      const password = await secretFrom(values["secret-env"], "SMPP password: ", ctx);
      const smpp = { url: values.smpp, system_id: values["system-id"]!.trim(), password: encryptSecret(password, keys), ...(values["system-type"] ? { system_type: values["system-type"] } : {}) };
      Object.assign(patch, { provider: "smpp", smpp });
    }
    // A new account (or --global) replaces the old one whole: its keys not in the patch go.
    const removed = accounts > 0 ? ACCOUNT_KEYS.filter((k) => !(k in patch)) : [];
    // One statement: what the app wrote meanwhile to other keys is kept.
    const sms = sql`case when jsonb_typeof(${companySettings.settings} -> 'sms') = 'object' then ${companySettings.settings} -> 'sms' else '{}'::jsonb end`;
    const result = await db.execute(sql`
      insert into ${companySettings} (company_id, settings) values (${companyId}, jsonb_build_object('sms', ${JSON.stringify(patch)}::jsonb))
      on conflict (company_id) do update set
        settings = ${companySettings.settings} || jsonb_build_object('sms', (${sms} - ${sql.param(removed)}::text[]) || ${JSON.stringify(patch)}::jsonb),
        updated_at = now()
      returning settings -> 'sms' as sms`);
    const [row] = rowsOf<{ sms: unknown }>(result);
    const stored = typeof row?.sms === "string" ? (JSON.parse(row.sms) as unknown) : row?.sms;
    const read = parseSmsSettings(stored, [], () => undefined);
    const summary = { companyId, provider: read.provider ?? "global", vonageApiKey: read.vonage?.apiKey, smppUrl: read.smpp?.url, senderName: read.senderName, maxSegments: read.maxSegments };
    const account = read.provider === "vonage" ? `its own Vonage account (key ${read.vonage?.apiKey})` : read.provider === "smpp" ? `its own SMPP account (${read.smpp?.url}, ${read.smpp?.systemId})` : "the deployment's account (SMS_PROVIDER)";
    const extras = [read.senderName && `sender ${read.senderName}`, read.maxSegments && `at most ${countOf(read.maxSegments, "segment")}`].filter(Boolean).join(", ");
    ctx.print(values.json, summary, `company ${companyId} (${company.name}): texts through ${account}${extras ? `, ${extras}` : ""}`);
    return 0;
  });
}
