import { syncAllEndpoint } from "../../../lib/http/endpoints.js";

export const GET = syncAllEndpoint;
export const POST = syncAllEndpoint;
export const PUT = syncAllEndpoint;
export const PATCH = syncAllEndpoint;
export const DELETE = syncAllEndpoint;
export const HEAD = syncAllEndpoint;
export const OPTIONS = syncAllEndpoint;
