// The key that makes "the same message" one row per integration, whatever its UID: the Message-ID,
// or, for mail without one, a hash of what identifies it (FreeScout learned with #691 that a random
// id there imports the message again on every resync).

import { createHash } from "node:crypto";
import { MAX_MESSAGE_ID_CHARS, normalizeMessageId } from "./message-id.js";
import { bodyOf, headerValue, type MessageHead } from "./raw-headers.js";

/**
 * The dedupe key of a message: its normalized Message-ID (`local@domain`), `mid-sha256:<hex>` for
 * an id too long to index, or `generated:<hex>`, the SHA-256 of From, Date, Subject and the body's
 * own SHA-256, all read from the raw bytes so that every fetch of the message gives the same key.
 */
export function dedupeKeyFor(head: MessageHead, source: Buffer): string {
  const messageId = normalizeMessageId(headerValue(head, "message-id"));
  if (messageId) return messageId.length <= MAX_MESSAGE_ID_CHARS ? messageId : `mid-sha256:${sha256(messageId)}`;
  const bodyHash = sha256(bodyOf(source, head));
  const identity = ["from", "date", "subject"].map((name) => headerValue(head, name) ?? "");
  // Without any of the three, the body alone would make every empty message one: use all headers.
  const extra = identity.every((v) => v === "") ? sha256(source.subarray(0, head.bodyOffset)) : "";
  return `generated:${sha256([...identity, bodyHash, extra].join("\n"))}`;
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
