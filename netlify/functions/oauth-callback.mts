import { oauthCallbackEndpoint } from "../../lib/http/oauth-endpoints.js";

export default oauthCallbackEndpoint();
export const config = { path: "/api/integrations/oauth/callback" };
