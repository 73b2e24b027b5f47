import { scheduledJobEndpoint } from "../../lib/http/endpoints.js";

export default scheduledJobEndpoint("inbox-sync");
// Netlify reads `config` statically: the registry's schedule, repeated (tests/jobs/registry.test.ts checks it).
export const config = { schedule: "*/5 * * * *" };
