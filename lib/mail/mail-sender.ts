// How an email leaves the business's mailbox, whatever the transport: a sender takes a message
// (composed ahead as MIME, or built by the sender) and says when it was handed over and what the
// server answered. SMTP is one sender (`smtp.ts`); the follow-ups' email channel sees only this.

/** An email to send, before it is turned into MIME. */
export interface OutgoingEmail {
  from: { name: string; address: string };
  replyTo?: string;
  to: string;
  subject: string;
  text: string;
  html: string;
  /** With angle brackets: "<id@domain>". */
  messageId: string;
  /** The message it answers (its Message-ID), and the conversation's References, oldest first. */
  inReplyTo?: string;
  references?: string[];
  headers?: Record<string, string>;
}

/** A message built for the wire (`composeEmail` in smtp.ts): its envelope and its MIME bytes. */
export interface ComposedEmail {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  /**
   * The thread of the sending mailbox it continues, for a sender whose provider keeps threads by
   * id (Gmail's `threadId`); the others ignore it (the headers thread it everywhere).
   */
  threadId?: string;
}

export interface SendOptions {
  /**
   * Called once, when the server has accepted the envelope (its 354 to DATA) and before the first
   * byte of the message is written: the moment the email is handed over. Nothing before it can
   * deliver anything; from it on, the server may deliver even if no reply comes back. When it
   * throws, the message is not written, the connection is dropped and the error is thrown as is.
   */
  onHandOver?: () => Promise<void>;
}

/** The server took the message. */
export interface SendAccepted {
  /** The server's final answer, e.g. SMTP "250 2.0.0 Ok: queued as 4C1F2". */
  response: string;
  /** The thread the provider filed it in, when it keeps threads by id (Gmail's `threadId`). */
  threadId?: string;
}

/**
 * One account's way out. `send` fails with a JobError whose kind says what the caller does:
 * `transient` (retry on a later run), `permanent` (do not retry this message), `auth` (the mailbox
 * settings need fixing).
 */
export interface MailSender {
  /** Sends one message, built here unless it was composed ahead. */
  send(email: OutgoingEmail | ComposedEmail, options?: SendOptions): Promise<SendAccepted>;
}
