import { forEveryMethod, processAutomaticEndpoint } from "../../lib/http/endpoints.js";

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = forEveryMethod(processAutomaticEndpoint);
