import { forEveryMethod } from "../../lib/http/endpoints.js";
import { cronStatusEndpoint } from "../../lib/http/ops-endpoints.js";

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = forEveryMethod(cronStatusEndpoint());
