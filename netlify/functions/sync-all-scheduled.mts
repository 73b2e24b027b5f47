import { scheduledHandler } from "../../lib/http/scheduled-handler.js";
import { syncAllJob } from "../../lib/inbox/sync-all.js";

export default scheduledHandler(syncAllJob, {});
export const config = { schedule: "*/5 * * * *" };
