// What a run needs to know about one company, read once per run: its name, its parsed follow-up
// settings (bad values logged, defaults used) and, on first need, who sends its emails.

import { eq } from "drizzle-orm";
import type { Config } from "../config.js";
import type { DbOrTx } from "../db/client.js";
import { companies, companySettings } from "../db/schema.js";
import type { Logger } from "../log.js";
import { resolveSender, type SenderResult } from "./sender.js";
import { type FollowupSettings, parseFollowupSettings } from "./settings.js";

export interface CompanyContext {
  id: number;
  name: string;
  settings: FollowupSettings;
  /** Resolved on first call, then remembered for the run. */
  sender(): Promise<SenderResult>;
}

/** Reads `companyId`'s name and settings; the sender is resolved lazily. */
export async function loadCompany(
  db: DbOrTx,
  config: Config,
  companyId: number,
  log: Logger,
  now: () => Date = () => new Date(),
): Promise<CompanyContext> {
  const [row] = await db
    .select({ name: companies.name, settings: companySettings.settings })
    .from(companies)
    .leftJoin(companySettings, eq(companySettings.companyId, companies.id))
    .where(eq(companies.id, companyId));
  const { settings, warnings } = parseFollowupSettings(row?.settings);
  if (warnings.length > 0) log.warn("company follow-up settings ignored", { companyId, warnings });
  const name = settings.companyInfo.name ?? row?.name ?? "";
  let sender: Promise<SenderResult> | undefined;
  return {
    id: companyId,
    name,
    settings,
    sender: () => (sender ??= resolveSender(db, config, { id: companyId, name, email: settings.companyInfo.email }, { now, log })),
  };
}
