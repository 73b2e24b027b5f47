import { forEveryMethod } from "../../lib/http/endpoints.js";
import { vonageWebhookEndpoint } from "../../lib/http/sms-endpoints.js";

export const { GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS } = forEveryMethod(vonageWebhookEndpoint());
