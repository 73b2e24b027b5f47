import { processAutomaticJob } from "../../lib/followups/process-automatic.js";
import { scheduledHandler } from "../../lib/http/scheduled-handler.js";

export default scheduledHandler(processAutomaticJob, { isDryRun: false });
export const config = { schedule: "0 * * * *" };
