import { scheduledJobEndpoint } from "../../lib/http/endpoints.js";

export default scheduledJobEndpoint("followups");
// Netlify reads `config` statically: the registry's schedule, repeated (tests/jobs/registry.test.ts checks it).
export const config = { schedule: "0 * * * *" };
