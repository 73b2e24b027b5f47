import { scheduledJobEndpoint } from "../../lib/app/routes.js";

export default scheduledJobEndpoint("inbox-sync");
// Netlify reads `config` statically: the registry's schedule, repeated (tests/app/routes.test.ts checks it).
export const config = { schedule: "*/5 * * * *" };
