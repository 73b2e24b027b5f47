import { oauthStartEndpoint } from "../../lib/http/oauth-endpoints.js";

export default oauthStartEndpoint();
export const config = { path: "/api/integrations/oauth/start" };
