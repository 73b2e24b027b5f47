// The paths the product's jobs answer on, in one place: the endpoints route them, and the inbox sync
// calls its own path when it fans out.

export const SYNC_ALL_PATH = "/api/inbox/integrations/sync-all";
export const PROCESS_AUTOMATIC_PATH = "/api/followups/process-automatic";
