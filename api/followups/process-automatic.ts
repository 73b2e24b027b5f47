import { processAutomaticEndpoint } from "../../lib/http/endpoints.js";

export const GET = processAutomaticEndpoint;
export const POST = processAutomaticEndpoint;
export const PUT = processAutomaticEndpoint;
export const PATCH = processAutomaticEndpoint;
export const DELETE = processAutomaticEndpoint;
export const HEAD = processAutomaticEndpoint;
export const OPTIONS = processAutomaticEndpoint;
