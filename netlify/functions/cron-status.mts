import { cronStatusEndpoint } from "../../lib/http/ops-endpoints.js";

export default cronStatusEndpoint();
export const config = { path: "/api/cron/status" };
