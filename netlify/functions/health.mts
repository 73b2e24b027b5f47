import { healthEndpoint } from "../../lib/http/ops-endpoints.js";

export default healthEndpoint();
export const config = { path: "/api/health" };
