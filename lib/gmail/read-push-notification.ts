// Reads a Pub/Sub push request's body: the envelope (`{"message": {"data", "messageId",
// "publishTime", "attributes"}, "subscription"}`, Pub/Sub's "wrapped" push format) whose `data` is
// the base64 of Gmail's notification, `{"emailAddress": "user@example.com", "historyId": "9876543210"}`
// (the Gmail API push guide; the history id comes as a string or, in practice, a number).

import { z } from "zod";

export interface GmailNotification {
  /** As Gmail writes it: compare without case. */
  emailAddress: string;
  historyId: string;
}

const envelopeSchema = z.object({
  message: z.object({ data: z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/) }),
  subscription: z.string().optional(),
});

const notificationSchema = z.object({
  emailAddress: z.string().trim().min(3).max(320).regex(/^[^\s@]+@[^\s@]+$/),
  historyId: z.union([z.string().regex(/^\d{1,20}$/), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)]).transform(String),
});

/** The notification in `body`, or null when it is not a Gmail notification in a Pub/Sub envelope. */
export function readPushNotification(body: string): GmailNotification | null {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return null;
  }
  const envelope = envelopeSchema.safeParse(json);
  if (!envelope.success) return null;
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(envelope.data.message.data, "base64").toString("utf8"));
  } catch {
    return null;
  }
  const notification = notificationSchema.safeParse(data);
  return notification.success ? notification.data : null;
}
