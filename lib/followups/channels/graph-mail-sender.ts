// The follow-ups' sender for a mailbox sent through Microsoft Graph (lib/graph/graph-sender.ts),
// as the email channel uses it (smtp.ts): one Graph client per mailbox for the run, with the
// integration's own token, no throttled wait past the run's time, and the seam's other form (a
// message not yet composed) built here. A shared mailbox whose Graph answer is 403 (the consenting
// person lost access: Full Access or Send As removed, or left the company) is marked as needing a
// new connection, naming the shared mailbox, as the IMAP and SMTP paths do (lib/mail/credentials.ts).

import { shortReason } from "../../errors.js";
import { createGraphSender, GraphSendRefusedError } from "../../graph/graph-sender.js";
import { type GraphIntegration, graphClientFor, graphMailboxOf } from "../../graph/integration-client.js";
import type { MailSender } from "../../mail/mail-sender.js";
import { composeEmail } from "../../mail/smtp.js";
import { markSharedMailboxAccessRefused } from "../../oauth/access-token.js";
import type { ChannelContext } from "./channel.js";

/** The run's Graph senders, one per mailbox. */
export interface GraphMailSenders {
  senderFor(integration: GraphIntegration): MailSender;
}

export function createGraphMailSenders(ctx: ChannelContext): GraphMailSenders {
  const senders = new Map<number, MailSender>();
  const deps = { db: ctx.db, config: ctx.config, now: ctx.now, log: ctx.log };
  return {
    senderFor(integration) {
      let sender = senders.get(integration.id);
      if (sender) return sender;
      const mailbox = graphMailboxOf(integration);
      const graph = createGraphSender(graphClientFor(integration, deps), mailbox, {
        // The part of the budget kept for a send started before the deadline is the last wait allowed.
        deadline: () => new Date(ctx.now().getTime() + ctx.budget.remainingMs() + ctx.reserveMs),
        signal: ctx.budget.signal,
      });
      sender = {
        async send(email, options) {
          try {
            return await graph.send("raw" in email ? email : await composeEmail(email), options);
          } catch (err) {
            if (mailbox.isShared && err instanceof GraphSendRefusedError && err.status === 403) {
              await markSharedMailboxAccessRefused(integration.id, deps, shortReason(err));
            }
            throw err;
          }
        },
      };
      senders.set(integration.id, sender);
      return sender;
    },
  };
}
