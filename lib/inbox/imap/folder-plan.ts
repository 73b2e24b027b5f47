// The folders one integration's sync reads, each with the way its mail goes: INBOX brings the
// clients' mail in, the Sent folder shows what the business wrote from its own mail program
// (Outlook, Gmail, a phone). Which roles are read is the integration's `synced_folders` setting.
//
// INBOX has the same name on every server (RFC 3501 §5.1). The Sent folder does not: it is found by
// its special-use attribute (RFC 6154 `\Sent`, which Gmail, Outlook.com, Dovecot and most servers
// announce), else by the names mail programs give it, else by imapflow's own guess from the name.

import type { ImapFlow, ListResponse } from "imapflow";
import { FOLDER_ROLES, type FolderRole, type MessageDirection } from "../../db/schema.js";
import type { SyncedFolder } from "../mail-source.js";

interface FolderRule {
  direction: MessageDirection;
  /** The one path every server uses for this role, so no LIST is needed. */
  fixedPath?: string;
  /** RFC 6154 special-use attribute. */
  specialUse?: string;
  /** Usual names, as path segments (matched without case, joined with the server's delimiter). */
  names?: string[][];
}

const UNSELECTABLE = new Set(["\\noselect", "\\nonexistent"]);

/** The plan, in sync order: INBOX first, so a client's message is filed before the business's answer. */
const FOLDER_RULES: Record<FolderRole, FolderRule> = {
  inbox: { direction: "inbound", fixedPath: "INBOX" },
  sent: {
    direction: "outbound",
    specialUse: "\\Sent",
    names: [
      ["Sent"], ["Sent Items"], ["Sent Messages"], ["Sent Mail"], ["Envoyés"], ["Éléments envoyés"], ["Messages envoyés"],
      ["INBOX", "Sent"], ["INBOX", "Sent Items"], ["INBOX", "Sent Messages"], ["INBOX", "Envoyés"],
      ["[Gmail]", "Sent Mail"], ["[Gmail]", "Messages envoyés"], ["[Google Mail]", "Sent Mail"],
    ],
  },
};

/**
 * The folders of `roles` found on the server, in sync order. A role with no folder on the server
 * (a mailbox without a Sent folder) is left out: there is nothing of it to import.
 */
export async function planFolders(client: ImapFlow, roles: readonly FolderRole[]): Promise<SyncedFolder[]> {
  let listed: ListResponse[] | undefined;
  const plan: SyncedFolder[] = [];
  for (const role of FOLDER_ROLES.filter((r) => roles.includes(r))) {
    const rule = FOLDER_RULES[role];
    let path = rule.fixedPath;
    if (path === undefined) {
      // One LIST per session, and only when a role needs it.
      listed ??= await client.list({ listOnly: true });
      path = findFolder(listed, rule);
    }
    if (path !== undefined && !plan.some((f) => f.path === path)) plan.push({ path, role, direction: rule.direction });
  }
  return plan;
}

/** The path of the folder `rule` describes among `listed`, or undefined. */
export function findFolder(listed: ListResponse[], rule: Pick<FolderRule, "specialUse" | "names">): string | undefined {
  // Flags compare without case (RFC 9051 §9): `\NoSelect` and `\Noselect` are one flag.
  const hasFlag = (f: ListResponse, wanted: Set<string>) => [...f.flags].some((flag) => wanted.has(flag.toLowerCase()));
  const selectable = listed.filter((f) => !hasFlag(f, UNSELECTABLE));
  // The attribute as the server listed it: imapflow fills `specialUse` only on some LIST variants.
  const announced = rule.specialUse === undefined ? undefined : selectable.find((f) => hasFlag(f, new Set([rule.specialUse!.toLowerCase()])));
  if (announced) return announced.path;
  for (const segments of rule.names ?? []) {
    const named = selectable.find((f) => sameName(f.path, segments.join(f.delimiter || "/")));
    if (named) return named.path;
  }
  // Last, imapflow's guess from localized names ("Gesendet", "Posta inviata"…).
  return selectable.find((f) => rule.specialUse !== undefined && f.specialUse === rule.specialUse)?.path;
}

/** Names compared without case or Unicode form ("Envoyés" may come composed or not). */
function sameName(a: string, b: string): boolean {
  return a.normalize("NFC").toLowerCase() === b.normalize("NFC").toLowerCase();
}
