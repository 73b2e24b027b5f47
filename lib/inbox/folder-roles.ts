// The folder roles an integration syncs (`synced_folders`), as the CLI and the app write them.

import { FOLDER_ROLES, type FolderRole } from "../db/schema.js";

/**
 * The roles in a setting written as text (`inbox,sent`, `inbox`), for the CLI and the app: null
 * when a role is unknown or none is given.
 */
export function parseFolderRoles(text: string): FolderRole[] | null {
  const names = text.split(",").map((n) => n.trim().toLowerCase()).filter(Boolean);
  if (names.length === 0 || !names.every((n): n is FolderRole => (FOLDER_ROLES as readonly string[]).includes(n))) return null;
  return FOLDER_ROLES.filter((r) => names.includes(r));
}
