import { routeEndpoint } from "../../lib/app/routes.js";

export default routeEndpoint("/api/inbox/gmail/push");
// Netlify reads `config` statically: the route table's path, repeated (tests/app/routes.test.ts checks it).
export const config = { path: "/api/inbox/gmail/push" };
