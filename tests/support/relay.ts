// What every SMTP relay the interop matrix starts offers the tests: submission with STARTTLS and
// AUTH on one loopback port, implicit TLS on another, the login the product sends with, and the
// messages it accepted, read from its queue.

export interface RelayRefusals {
  /** A recipient the relay answers 4xx at RCPT TO (a full mailbox). */
  deferred: string;
  /** A recipient the relay answers 5xx at RCPT TO (no such user). */
  refused: string;
}

export interface TestRelay {
  name: string;
  /** Submission, STARTTLS then AUTH. */
  port: number;
  /** Implicit TLS (as on 465). */
  tlsPort: number;
  certPem: string;
  credentials: { user: string; password: string };
  /** The queued messages as the relay stores them (envelope and headers, as text). */
  queued(): string[];
  stop(): Promise<void>;
}
