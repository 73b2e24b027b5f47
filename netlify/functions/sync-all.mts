import { jobEndpoint } from "../../lib/http/endpoints.js";

export default jobEndpoint("inbox-sync");
// Netlify reads `config` statically: the registry's path, repeated (tests/jobs/registry.test.ts checks it).
export const config = { path: "/api/inbox/integrations/sync-all" };
