import { healthEndpoint } from "../lib/http/ops-endpoints.js";

const endpoint = healthEndpoint();

export const GET = endpoint;
export const HEAD = endpoint;
export const POST = endpoint;
export const PUT = endpoint;
export const PATCH = endpoint;
export const DELETE = endpoint;
export const OPTIONS = endpoint;
