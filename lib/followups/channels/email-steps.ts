// What every email channel does the same way, whatever carries the message (SMTP today; an HTTP
// mail API such as Microsoft Graph or Gmail would only change the delivery): write a step's email
// from the company's template, then, for a round, log the sender in once, claim the round's steps
// in one transaction, and send the claimed ones one after the other, each holding a slot of its
// account (account-slots.ts), while the run has time. Claimed steps left unsent are released for
// the next run.
//
// A 4xx to the session (greeting, MAIL FROM, DATA, 421 at any point), a refused login or no reply
// marks the account down the moment it is known: no send through it starts after that in this run (each checks, holding its slot, just before it starts),
// and its remaining follow-ups wait untouched for the next run. Sends already in flight on its
// other connections end with their own outcome: accepted → recorded as sent; refused → retried
// next run. A 4xx to RCPT TO (one recipient's full mailbox) leaves the account up: only that step
// waits for a later run, and the round goes on over the same session.
//
// An account sends at most its provider's limits (account-limits.ts): the claim takes only what
// they still allow, the rest waits for the next run. An account whose provider answered with its
// quota sends nothing until the wait it recorded is over.

import { randomBytes } from "node:crypto";
import { kindOf, shortReason } from "../../errors.js";
import type { MailLogin } from "../../mail/credentials.js";
import type { ComposedEmail } from "../../mail/mail-sender.js";
import { composeEmail } from "../../mail/smtp.js";
import { effectiveLimits, quotaWaitOf } from "../account-limits.js";
import { type AnsweredMessage, messageToAnswer } from "../answered-message.js";
import { AccountSlots } from "../account-slots.js";
import { claimContextOf, claimFollowupSteps, releaseUnsentAttempts, type StepClaim } from "../claim-followups.js";
import { companyTemplateFor, type RenderedEmail, renderFollowup, withFallbackEmail } from "../render.js";
import type { Sender } from "../sender.js";
import { type ChannelContext, type Draft, type DueStep, failureOf, notClaimed, outcomeOfSend, type ReportOutcome, type SendOutcome } from "./channel.js";

/** A step's email, written and ready for its sender. */
export interface EmailDraft extends Draft {
  readonly sender: Sender;
  readonly email: RenderedEmail;
}

/** A run's email accounts, for one channel. */
export interface EmailAccounts {
  /** Accounts that failed at the connection or login, or answered 4xx to the session, this run: not tried again until the next. */
  down: Set<string>;
  /** How many sends go through one account at once. */
  slots: AccountSlots;
  /** The OAuth2 login of a sender, asked for once per run (undefined for password logins). */
  loginOf(sender: Sender): Promise<MailLogin | undefined>;
}

/** A claimed step about to go out. */
export interface ClaimedEmail {
  draft: EmailDraft;
  attemptId: number;
  /** The Message-ID recorded with the attempt, and set on `message`. */
  messageId: string;
  /** The email as it goes on the wire (MIME), built by composeFollowupEmail. */
  message: ComposedEmail;
  /** The message it answers, when it continues a conversation (answered-message.ts). */
  answered?: AnsweredMessage | undefined;
  login: MailLogin | undefined;
}

/** How one email channel delivers a claimed step, and how many sends its accounts take at once. */
export interface EmailDelivery {
  slotsOf(sender: Sender): number;
  /**
   * Hands `claimed` over (writing the hand-over just before it leaves: hand-over.ts), records it,
   * and never throws for a provider's failure. `onAccepted` frees the account's slot once the
   * provider has the message; `onServerFailure` marks the account down, called as soon as the
   * failure is known and before the attempt is cleaned up.
   */
  deliver(claimed: ClaimedEmail, hooks: { onAccepted(): void; onServerFailure(): void }): Promise<SendOutcome>;
}

/** The email accounts of a run, none down, no login asked for yet. */
export function openEmailAccounts(): EmailAccounts {
  const logins = new Map<string, Promise<MailLogin | undefined>>();
  return {
    down: new Set(),
    slots: new AccountSlots(),
    loginOf(sender) {
      let login = logins.get(sender.key);
      if (!login) {
        login = sender.resolveLogin?.() ?? Promise.resolve(undefined);
        logins.set(sender.key, login);
      }
      return login;
    },
  };
}

/** Writes a due step's email, or says why it is skipped (no sender, its account down this run). */
export async function prepareEmail(step: DueStep, accounts: EmailAccounts): Promise<EmailDraft | { skip: string }> {
  const { candidate, company, decision } = step;
  const template = companyTemplateFor(company.settings.templates, candidate.type);
  if (template === "sms") return { skip: "sms_not_supported" };
  const senderResult = await company.sender();
  if ("unavailable" in senderResult) return { skip: senderResult.unavailable };
  const sender = senderResult.sender;
  if (accounts.down.has(sender.key)) return { skip: "smtp_unavailable" };
  const email = renderFollowup({
    type: candidate.type,
    isBeforeDue: decision.isBeforeDue,
    template,
    values: withFallbackEmail(step.values, sender.replyTo ?? sender.from.address),
  });
  return { step, sender, email, plan: { followupId: candidate.id, step: decision.step, to: step.recipient, subject: email.subject } };
}

/**
 * Sends one round's drafts (one company's, so one sender), in order: see OpenChannel.send. Returns
 * false when the run's budget ran out; the claimed steps not sent are released for the next run.
 */
export async function sendEmailRound(
  ctx: ChannelContext,
  accounts: EmailAccounts,
  delivery: EmailDelivery,
  drafts: EmailDraft[],
  report: ReportOutcome<EmailDraft>,
): Promise<boolean> {
  const sender = drafts[0]!.sender;
  const first = drafts[0]!.step;
  if (await quotaWaitOf(ctx.db, sender.key, first.now)) {
    drafts.forEach((draft) => report(draft, { outcome: "skipped", reason: "sending_quota_wait" }));
    return true;
  }
  const loggedIn = await logIn(accounts, sender, drafts, report);
  if (!loggedIn) return true;
  const claims = drafts.map((draft) => claimOf(draft));
  // The global relay is shared by every company without a mailbox: no company's setting applies to it.
  const limits = sender.integrationId === null ? sender.limits : effectiveLimits(sender.limits, first.company.settings.sendingLimits);
  const context = claimContextOf(first.now, first.company.settings.sendingWindow.timeZone);
  const results = await claimFollowupSteps(ctx.db, context, claims, { key: sender.key, limits });
  const unsent = new Set(results.flatMap((result) => (result.claimed ? [result.attemptId] : [])));
  try {
    for (const [i, result] of results.entries()) {
      const draft = drafts[i]!;
      if (!result.claimed) {
        report(draft, notClaimed(result.reason));
        continue;
      }
      if (ctx.budget.isExhausted(ctx.reserveMs)) return false;
      const claimed = { draft, attemptId: result.attemptId, messageId: claims[i]!.messageId, login: loggedIn.login };
      await sendClaimed(ctx, accounts, delivery, claimed, { unsent, report });
    }
    return true;
  } finally {
    // Claimed but never sent (out of time, or an error above): the next run claims them at once.
    await releaseUnsentAttempts(ctx.db, [...unsent]);
  }
}

/**
 * Builds a step's email for the wire. Done before the send waits for its account's turn: the
 * building needs no connection, so it is not made while holding one.
 */
export async function composeFollowupEmail(step: {
  sender: Sender;
  recipient: string;
  email: RenderedEmail;
  messageId: string;
  /** The message it answers (answered-message.ts), when it continues a conversation. */
  answered?: AnsweredMessage | undefined;
}): Promise<ComposedEmail> {
  const { answered } = step;
  const composed = await composeEmail({
    from: step.sender.from,
    replyTo: step.sender.replyTo,
    to: step.recipient,
    subject: step.email.subject,
    text: step.email.text,
    html: step.email.html,
    messageId: step.messageId,
    ...(answered ? { inReplyTo: answered.messageId, references: answered.references } : {}),
    // RFC 3834: an automatic message; well-behaved out-of-office robots do not answer it.
    headers: { "Auto-Submitted": "auto-generated" },
  });
  return answered?.sourceThreadId ? { ...composed, threadId: answered.sourceThreadId } : composed;
}

/** `<lokario.f{followup}.s{step}.{random}@{sender's domain}>`: unique, and traceable by eye. */
export function newMessageId(followupId: number, step: number, fromAddress: string): string {
  const domain = (fromAddress.split("@")[1] ?? "lokario.local").toLowerCase().replace(/[^a-z0-9.-]/g, "") || "lokario.local";
  return `<lokario.f${followupId}.s${step}.${randomBytes(8).toString("hex")}@${domain}>`;
}

/**
 * The sender's login for this run. When it cannot log in (grant refused, provider down), nothing
 * else goes out through it this run: the account is marked down, the round's first draft counted
 * failed (unless the account was already down) and the others skipped.
 */
async function logIn(
  accounts: EmailAccounts,
  sender: Sender,
  drafts: EmailDraft[],
  report: ReportOutcome<EmailDraft>,
): Promise<{ login: MailLogin | undefined } | undefined> {
  try {
    return { login: await accounts.loginOf(sender) };
  } catch (err) {
    const isFirst = !accounts.down.has(sender.key);
    accounts.down.add(sender.key);
    drafts.forEach((draft, i) => report(draft, i === 0 && isFirst
      ? { outcome: "failed", step: draft.step.decision.step, kind: kindOf(err), reason: shortReason(err) }
      : { outcome: "skipped", reason: "smtp_unavailable" }));
    return undefined;
  }
}

function claimOf(draft: EmailDraft): StepClaim {
  const { candidate, decision, recipient } = draft.step;
  return {
    followupId: candidate.id,
    companyId: candidate.companyId,
    clientId: candidate.clientId,
    step: decision.step,
    messageId: newMessageId(candidate.id, decision.step, draft.sender.from.address),
    recipient,
    subject: draft.email.subject,
  };
}

/** Sends one claimed step through a slot of its account, unless the account went down meanwhile. */
async function sendClaimed(
  ctx: ChannelContext,
  accounts: EmailAccounts,
  delivery: EmailDelivery,
  claimed: Omit<ClaimedEmail, "message">,
  round: { unsent: Set<number>; report: ReportOutcome<EmailDraft> },
): Promise<void> {
  const { draft, attemptId } = claimed;
  const { sender } = draft;
  let release: (() => void) | undefined;
  try {
    // Built while the account may still be busy with other sends: it needs no connection.
    const { candidate } = draft.step;
    const answered = await messageToAnswer(ctx.db, {
      followupId: candidate.id, companyId: candidate.companyId, sourceType: candidate.sourceType, sourceId: candidate.sourceId, integrationId: sender.integrationId,
    });
    const message = await composeFollowupEmail({ sender, recipient: draft.step.recipient, email: draft.email, messageId: claimed.messageId, answered });
    release = await accounts.slots.acquire(sender.key, delivery.slotsOf(sender));
    round.unsent.delete(attemptId);
    if (accounts.down.has(sender.key)) {
      await releaseUnsentAttempts(ctx.db, [attemptId]);
      return round.report(draft, { outcome: "skipped", reason: "smtp_unavailable" });
    }
    const outcome = await delivery.deliver({ ...claimed, message, answered }, {
      // Accepted: the account's next email may go while this one is recorded. After a failure
      // the slot is kept until the account is marked down, which is done before the attempt is
      // cleaned up, so the next send sees it.
      onAccepted: release,
      onServerFailure: () => accounts.down.add(sender.key),
    });
    round.report(draft, outcomeOfSend(draft.step, outcome));
  } catch (err) {
    // A database hiccup on one follow-up: count it, go on with the others.
    round.report(draft, failureOf(draft.step, err, ctx.log));
  } finally {
    release?.();
  }
}
