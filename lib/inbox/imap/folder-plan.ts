// The folders one integration's sync reads, each with the way its mail goes: INBOX brings the
// clients' mail in, the Sent folder(s) show what the business wrote from its own mail program
// (Outlook, Gmail, a phone). Which roles are read is the integration's `synced_folders` setting.
//
// INBOX has the same name on every server (RFC 3501 §5.1). The Sent folder does not: it is chosen by
// evidence (`sent-folders.ts`): the special-use attribute (RFC 6154 `\Sent`), else the folders named
// like one (localised, under `INBOX.` on hosting panels) that hold the business's own mail.

import type { ImapFlow } from "imapflow";
import { and, eq, gt } from "drizzle-orm";
import type { Db } from "../../db/client.js";
import { type FolderRole, inboxFolderCursors } from "../../db/schema.js";
import type { Logger } from "../../log.js";
import type { SyncedFolder } from "../mail-source.js";
import { chooseSentFolders } from "./sent-folders.js";

/** What choosing the Sent folders of an integration needs: its address, and the choices remembered. */
export interface FolderPlanContext {
  db: Db;
  integrationId: number;
  /** The mailbox's address: the From of the business's own mail. */
  address: string | null;
  now: () => Date;
  log: Logger;
}

/**
 * The folders of `roles` found on the server, in sync order (INBOX first, so a client's message is
 * filed before the business's answer). A role with no folder on the server is left out, and said
 * in the log: there is nothing of it to import. Without `context` (a test reading one folder) the
 * Sent folders are chosen from the listing alone.
 */
export async function planFolders(client: ImapFlow, roles: readonly FolderRole[], context?: FolderPlanContext): Promise<SyncedFolder[]> {
  const plan: SyncedFolder[] = [];
  if (roles.includes("inbox")) plan.push({ path: "INBOX", role: "inbox", direction: "inbound" });
  if (!roles.includes("sent")) return plan;
  // One LIST per session, only when the Sent folder is read. `listOnly`: no LSUB, no STATUS per folder.
  const listed = await client.list({ listOnly: true });
  const now = context?.now() ?? new Date();
  const choice = await chooseSentFolders(client, listed, {
    address: context?.address ?? null,
    now,
    ...(context ? { remembered: () => rememberedSentFolders(context.db, context.integrationId) } : {}),
  });
  const log = context?.log;
  if (choice.reason === "none-found") {
    log?.warn("no Sent folder found: the business's replies are not imported", { folders: listed.length });
  } else if (choice.folders.length === 0) {
    log?.info("no Sent folder holds mail yet: none read", { candidates: choice.candidates.map((c) => c.path) });
  } else {
    // Said once, when evidence decided; a flag, a lone name or a remembered choice decides every run.
    const isDecided = choice.reason === "own-mail" || choice.reason === "most-mail";
    log?.[isDecided ? "info" : "debug"]("Sent folder chosen", { folders: choice.folders, reason: choice.reason, candidates: choice.candidates });
  }
  for (const path of choice.folders) if (!plan.some((f) => f.path === path)) plan.push({ path, role: "sent", direction: "outbound" });
  return plan;
}

/**
 * The integration's folders other than INBOX whose cursor has moved: chosen before, and they brought
 * mail in. A folder chosen while empty is not remembered, so a better one can still win later.
 */
export async function rememberedSentFolders(db: Db, integrationId: number): Promise<Set<string>> {
  const c = inboxFolderCursors;
  const rows = await db
    .select({ folder: c.folder })
    .from(c)
    .where(and(eq(c.integrationId, integrationId), gt(c.lastUid, 0)));
  return new Set(rows.map((r) => r.folder).filter((f) => f !== "INBOX"));
}
