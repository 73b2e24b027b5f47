import { forEveryMethod } from "../lib/http/endpoints.js";
import { operatorPage } from "../lib/ops/page/operator-page.js";

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = forEveryMethod(operatorPage());
