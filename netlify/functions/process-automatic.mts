import { processAutomaticEndpoint } from "../../lib/http/endpoints.js";

export default processAutomaticEndpoint;
export const config = { path: "/api/followups/process-automatic" };
