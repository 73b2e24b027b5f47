// The hand-over, as every channel writes it: a claimed attempt's `handed_over_at` is set just before
// the message leaves (SMTP: once the server accepted the envelope, before DATA's content; an SMS or
// HTTP API: just before the request's first byte). Before it, a dead run's attempt is released and
// its step sent again; after it, the attempt can only end sent or uncertain (send-email.ts, send-sms.ts).

import type { Db } from "../../db/client.js";
import { recordHandOver } from "../claim-followups.js";

/** What became of a delivery wrapped in its hand-over. */
export type HandOverResult<T> =
  /** The provider accepted the message. */
  | { accepted: T }
  /** The attempt was released after its lease (another run owns the step): nothing left, nothing to undo. */
  | { released: true }
  /** The provider refused or failed; `failure` is what it threw. */
  | { failure: unknown };

/**
 * Calls `deliver` with the hook it must call just before the message leaves; the hook writes the
 * hand-over of attempt `attemptId`, and stops the delivery when the attempt is no longer ours.
 * Throws the database's error when the hand-over could not be written: the message did not leave,
 * the attempt stays `sending` without a hand-over, and a run sends the step again once its lease
 * has passed.
 */
export async function withHandOver<T>(
  db: Db,
  attemptId: number,
  at: Date,
  deliver: (onHandOver: () => Promise<void>) => Promise<T>,
): Promise<HandOverResult<T>> {
  let isReleased = false;
  let handOverFailure: unknown;
  const onHandOver = async () => {
    const isRecorded = await recordHandOver(db, attemptId, at).catch((err: unknown) => {
      handOverFailure = err;
      throw err;
    });
    isReleased = !isRecorded;
    if (isReleased) throw new Error("attempt released after its lease: not ours to send any more");
  };
  try {
    return { accepted: await deliver(onHandOver) };
  } catch (err) {
    if (isReleased) return { released: true };
    if (handOverFailure !== undefined) throw handOverFailure;
    return { failure: err };
  }
}
