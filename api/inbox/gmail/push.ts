import { routeEndpoint } from "../../../lib/app/routes.js";
import { forEveryMethod } from "../../../lib/http/for-every-method.js";

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = forEveryMethod(routeEndpoint("/api/inbox/gmail/push"));
