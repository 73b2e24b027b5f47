import { forEveryMethod, syncAllEndpoint } from "../../../lib/http/endpoints.js";

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = forEveryMethod(syncAllEndpoint);
