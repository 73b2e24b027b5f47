import { syncAllEndpoint } from "../../lib/http/endpoints.js";

export default syncAllEndpoint;
export const config = { path: "/api/inbox/integrations/sync-all" };
