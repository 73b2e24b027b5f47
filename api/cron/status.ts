import { cronStatusEndpoint } from "../../lib/http/ops-endpoints.js";

const endpoint = cronStatusEndpoint();

export const GET = endpoint;
export const HEAD = endpoint;
export const POST = endpoint;
export const PUT = endpoint;
export const PATCH = endpoint;
export const DELETE = endpoint;
export const OPTIONS = endpoint;
