// `users.messages.get?format=raw` (5 quota units): one message's RFC 822 bytes, decoded from
// base64url while the answer arrives (`raw-message-decoder.ts`), for the same parser and dedupe as
// IMAP. A message over `maxBytes` comes back as its header block only, and the rest of the answer is
// not downloaded, as IMAP fetches only the header of an over-size message.

import { JobError } from "../errors.js";
import type { GmailClient } from "./gmail-client.js";
import { GmailAnswerError, GmailApiError, gmailFetch } from "./gmail-request.js";
import { type DecodedRawMessage, RawMessageDecoder } from "./raw-message-decoder.js";

export type RawMessageResult = ({ found: true } & DecodedRawMessage) | { found: false };

/** The message `id`; `found: false` when it is gone (deleted since it was listed: Gmail answers 404). */
export async function getRawMessage(client: GmailClient, id: string, options: { maxBytes: number }): Promise<RawMessageResult> {
  let response: Response;
  try {
    response = await gmailFetch(client, { method: "users.messages.get", httpMethod: "GET", path: `/messages/${encodeURIComponent(id)}`, query: { format: "raw" } });
  } catch (err) {
    if (err instanceof GmailApiError && err.status === 404) return { found: false };
    throw err;
  }
  const decoder = new RawMessageDecoder({ maxBytes: options.maxBytes });
  if (response.body) {
    const reader = response.body.getReader();
    try {
      for (;;) {
        const next = await reader.read();
        if (next.done) break;
        if (!decoder.write(next.value)) {
          await reader.cancel().catch(() => {});
          break;
        }
      }
    } catch (err) {
      await reader.cancel().catch(() => {});
      if (err instanceof JobError) throw err;
      throw new GmailAnswerError("Gmail API users.messages.get: the answer broke off", err);
    }
  }
  return { found: true, ...decoder.end() };
}
