import { forEveryMethod, jobEndpoint } from "../../lib/http/endpoints.js";

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = forEveryMethod(jobEndpoint("followups"));
