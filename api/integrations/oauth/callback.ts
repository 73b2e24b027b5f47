import { forEveryMethod } from "../../../lib/http/endpoints.js";
import { oauthCallbackEndpoint } from "../../../lib/http/oauth-endpoints.js";

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = forEveryMethod(oauthCallbackEndpoint());
