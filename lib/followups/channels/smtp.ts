// The email channel: over SMTP through the company's own mailbox, or the global relay when it has
// none (sender.ts); through Microsoft Graph's sendMail when the mailbox's transport is Graph
// (graph-mail-sender.ts), through the Gmail API when it is 'gmail-api' (gmail-mail-sender.ts). The run keeps one SMTP session per account, its connections reused from send
// to send; an account carries as many sends at once as it has connections (SmtpSettings.maxConnections:
// SMTP_MAX_CONNECTIONS for the global relay, one for a company's own mailbox). One step's delivery
// is send-email.ts; the rest of the path is every email channel's (email-steps.ts).

import { createSmtpSessions, type SmtpSessions } from "../../mail/smtp.js";
import type { ChannelContext, FollowupChannel, OpenChannel } from "./channel.js";
import { createGmailMailSenders, type GmailMailSenders } from "./gmail-mail-sender.js";
import { createGraphMailSenders, type GraphMailSenders } from "./graph-mail-sender.js";
import { type EmailDelivery, type EmailDraft, openEmailAccounts, prepareEmail, sendEmailRound } from "./email-steps.js";
import { sendEmailFollowup } from "./send-email.js";

export const smtpChannel: FollowupChannel = {
  name: "smtp",
  open(ctx: ChannelContext): OpenChannel<EmailDraft> {
    const accounts = openEmailAccounts();
    const sessions = createSmtpSessions();
    const delivery = emailDelivery(ctx, sessions, createGraphMailSenders(ctx), createGmailMailSenders(ctx));
    return {
      name: "smtp",
      // The fallback for email: a channel for a mailbox's own API goes before it in the run's list.
      carries: (step) => step.medium === "email",
      prepare: (step) => prepareEmail(step, accounts),
      send: (drafts, report) => sendEmailRound(ctx, accounts, delivery, drafts, report),
      close: async () => sessions.closeAll(),
    };
  },
};

/** A Graph or Gmail API mailbox sends one follow-up at a time, as a company's own SMTP account does (sender.ts). */
const GRAPH_MAILBOX_SENDS = 1;

function emailDelivery(ctx: ChannelContext, sessions: SmtpSessions, graph: GraphMailSenders, gmail: GmailMailSenders): EmailDelivery {
  return {
    slotsOf: (sender) => (sender.graph || sender.gmail ? GRAPH_MAILBOX_SENDS : sender.smtp.maxConnections),
    deliver({ draft, attemptId, messageId, message, answered, login }, hooks) {
      const { candidate, decision, recipient, isLastAllowed, now } = draft.step;
      const { sender, email } = draft;
      return sendEmailFollowup(ctx.db, {
        attemptId, messageId, followupId: candidate.id, companyId: candidate.companyId, clientId: candidate.clientId, step: decision.step,
        recipient, email, sender, now, isLastAllowed, message, answered,
        via: sender.graph ? graph.senderFor(sender.graph)
          : sender.gmail ? gmail.senderFor(sender.gmail)
          : sessions.sessionFor(sender.key, { ...sender.smtp, login }),
        onAccepted: hooks.onAccepted,
        onServerFailure: hooks.onServerFailure,
      }, ctx.log.with({ companyId: candidate.companyId }));
    },
  };
}
