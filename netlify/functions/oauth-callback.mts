import { routeEndpoint } from "../../lib/app/routes.js";

export default routeEndpoint("/api/integrations/oauth/callback");
// Netlify reads `config` statically: the route table's path, repeated (tests/app/routes.test.ts checks it).
export const config = { path: "/api/integrations/oauth/callback" };
