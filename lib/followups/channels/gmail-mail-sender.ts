// The follow-ups' sender for a mailbox sent through the Gmail API (`users.messages.send`,
// lib/gmail/send-message.ts), as the email channel uses it (smtp.ts): the message composed as MIME
// exactly as for SMTP, sent raw from the mailbox (`me`), so it leaves from its address and Gmail
// keeps the copy under SENT. The exactly-once rules are SMTP's: the hand-over is recorded just before
// the request (an HTTP API has no envelope step to wait for); an answer lost after the request may
// have reached Google is uncertain (UncertainDeliveryError), never sent again blind; a refusal
// (4xx, a quota wait that would pass the run's time) is a JobError of its kind. One quota pace per
// mailbox for the run; each send's client stops its waits at the run's end.

import { JobError, UncertainDeliveryError } from "../../errors.js";
import { createUnitLimiter, type UnitLimiter } from "../../gmail/unit-limiter.js";
import { gmailClientFor } from "../../gmail/integration-client.js";
import { MAILBOX_UNITS_PER_SECOND } from "../../gmail/quota-units.js";
import { sendMessage } from "../../gmail/send-message.js";
import type { MailSender } from "../../mail/mail-sender.js";
import { composeEmail } from "../../mail/smtp.js";
import type { ChannelContext } from "./channel.js";

/** The run's Gmail senders, one per mailbox. */
export interface GmailMailSenders {
  senderFor(integration: { id: number }): MailSender;
}

export function createGmailMailSenders(ctx: ChannelContext): GmailMailSenders {
  const senders = new Map<number, MailSender>();
  const deps = { db: ctx.db, config: ctx.config, now: ctx.now, log: ctx.log };
  return {
    senderFor(integration) {
      let sender = senders.get(integration.id);
      if (sender) return sender;
      const limiter: UnitLimiter = createUnitLimiter({
        unitsPerSecond: MAILBOX_UNITS_PER_SECOND, burstUnits: MAILBOX_UNITS_PER_SECOND, now: ctx.now, sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      });
      sender = {
        async send(email, options = {}) {
          const raw = "raw" in email ? email.raw : (await composeEmail(email)).raw;
          // The part of the budget kept for a send started before the deadline is the last wait allowed.
          const deadline = new Date(ctx.now().getTime() + ctx.budget.remainingMs() + ctx.reserveMs);
          const client = gmailClientFor(integration, deps, { limiter, deadline });
          // In the thread of the message it answers, when that came through this mailbox.
          const threadId = "raw" in email ? email.threadId : undefined;
          const result = await sendMessage(client, { raw, ...(threadId ? { threadId } : {}) }, options.onHandOver ? { onHandOver: options.onHandOver } : {});
          switch (result.outcome) {
            case "accepted":
              return { response: `200 OK (Gmail API users.messages.send, id ${result.id})`, threadId: result.threadId };
            case "uncertain":
              throw new UncertainDeliveryError(`Gmail API users.messages.send: no answer after the request left (${result.reason})`);
            case "refused":
              throw new JobError(result.kind, result.reason);
          }
        },
      };
      senders.set(integration.id, sender);
      return sender;
    },
  };
}
