import { routeEndpoint } from "../../lib/app/routes.js";

export default routeEndpoint("/api/followups/process-automatic");
// Netlify reads `config` statically: the route table's path, repeated (tests/app/routes.test.ts checks it).
export const config = { path: "/api/followups/process-automatic" };
