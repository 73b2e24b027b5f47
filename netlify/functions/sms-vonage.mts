import { vonageWebhookEndpoint } from "../../lib/http/sms-endpoints.js";

export default vonageWebhookEndpoint();
export const config = { path: "/api/sms/vonage" };
