// withSmtp against a real SMTP server: a message goes out with our Message-ID, several go out at once
// on the account's kept connections, and each way a server can fail comes back with the kind the
// follow-up job acts on.

import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { JobError } from "../../lib/errors.js";
import type { OutgoingEmail } from "../../lib/mail/mail-sender.js";
import { isServerFailure, type SmtpSettings, withSmtp } from "../../lib/mail/smtp.js";
import { TEST_MAIL_HOST_POLICY } from "../support/config.js";
import { startSmtpServer, useSmtpServer } from "../support/smtp.js";

const smtp = useSmtpServer();
let settings: SmtpSettings;

const email = (to: string): OutgoingEmail => ({
  from: { name: "Atelier Durand", address: "relances@durand.test" },
  replyTo: "contact@durand.test",
  to,
  subject: "Relance : facture FAC-1",
  text: "Bonjour",
  html: "<p>Bonjour</p>",
  messageId: "<lokario.f1.s1.abc@durand.test>",
});

async function failureOf(promise: Promise<unknown>): Promise<JobError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(JobError);
  return err as JobError;
}

beforeAll(async () => {
  settings = { host: smtp.host, port: smtp.port, isSecure: false, rejectUnauthorized: true, timeoutMs: 3000, hostPolicy: TEST_MAIL_HOST_POLICY, maxConnections: 1 };
});
beforeEach(async () => {
  smtp.setTemporaryFailure(false);
  smtp.requireAuth(undefined);
  await smtp.start();
});

describe("sending through SMTP", () => {
  it("delivers the message with its Message-ID, From, Reply-To and both parts", async () => {
    const accepted = await withSmtp(settings, (s) => s.send(email("ok@example.com")));
    expect(accepted.response).toMatch(/^250/);
    const [mail] = smtp.receivedBy("ok@example.com");
    expect(mail?.messageId).toBe("<lokario.f1.s1.abc@durand.test>");
    expect(mail?.envelope).toEqual({ from: "relances@durand.test", to: ["ok@example.com"] });
    expect(mail?.parsed.from?.text).toBe('"Atelier Durand" <relances@durand.test>');
    expect(mail?.parsed.replyTo?.text).toBe("contact@durand.test");
    expect(mail?.parsed.text?.trim()).toBe("Bonjour");
    expect(mail?.parsed.html).toContain("<p>Bonjour</p>");
  });

  it("sends over a fresh connection when the server closed the kept one between two messages", async () => {
    await withSmtp(settings, async (session) => {
      await session.send(email("first@example.com"));
      await smtp.stop();
      await smtp.start();
      await session.send(email("second@example.com"));
    });
    expect(smtp.receivedBy("first@example.com")).toHaveLength(1);
    expect(smtp.receivedBy("second@example.com")).toHaveLength(1);
  });

  it("sends up to maxConnections messages at once, each on a kept connection of its own, and no more", async () => {
    const slow = await startSmtpServer();
    try {
      slow.setAcceptDelay(50);
      await withSmtp({ ...settings, port: slow.port, maxConnections: 2 }, async (session) => {
        await Promise.all(["a", "b", "c", "d"].map((name) => session.send(email(`${name}@example.com`))));
        await session.send(email("e@example.com"));
      });
      expect(slow.received).toHaveLength(5);
      expect(slow.peakConnections()).toBe(2);
      expect(slow.connectionCount()).toBe(2);
    } finally {
      await slow.close();
    }
  });

  it("calls the hand-over hook once the envelope is accepted, and writes nothing of the message when it throws", async () => {
    const stages: string[] = [];
    await withSmtp(settings, (s) => s.send(email("handed@example.com"), { onHandOver: async () => void stages.push("handed over") }));
    expect(stages).toEqual(["handed over"]);
    const refusal = new Error("not ours any more");
    const err = await withSmtp(settings, (s) => s.send(email("never@example.com"), { onHandOver: async () => Promise.reject(refusal) })).catch((e: unknown) => e);
    expect(err).toBe(refusal);
    expect(smtp.receivedBy("never@example.com")).toHaveLength(0);
    smtp.rejectRecipient("refused@example.com");
    let isCalled = false;
    await failureOf(withSmtp(settings, (s) => s.send(email("refused@example.com"), { onHandOver: async () => void (isCalled = true) })));
    expect(isCalled).toBe(false);
  });

  it("reports a recipient refused with 550 as permanent", async () => {
    smtp.rejectRecipient("gone@example.com");
    const err = await failureOf(withSmtp(settings, (s) => s.send(email("gone@example.com"))));
    expect(err.kind).toBe("permanent");
    expect(err.message).toContain("550");
    expect(isServerFailure(err)).toBe(false);
  });

  it("reports a 451 answer as transient, and as a reason to leave the server alone until the next run", async () => {
    smtp.setTemporaryFailure(true);
    const err = await failureOf(withSmtp(settings, (s) => s.send(email("later@example.com"))));
    expect(err.kind).toBe("transient");
    expect(err.message).toContain("451");
    expect(isServerFailure(err)).toBe(true);
  });

  it("reports a 451 to RCPT TO (a full mailbox) as transient for that recipient only, and resets the session with RSET for the next message", async () => {
    smtp.deferRecipient("full@example.com");
    const connectionsBefore = smtp.connectionCount();
    const eventsBefore = smtp.events.length;
    await withSmtp(settings, async (session) => {
      const err = await failureOf(session.send(email("full@example.com")));
      expect(err.kind).toBe("transient");
      expect(err.message).toContain("451");
      expect(isServerFailure(err)).toBe(false);
      await session.send(email("next@example.com"));
    });
    expect(smtp.connectionCount()).toBe(connectionsBefore + 1);
    const [next] = smtp.receivedBy("next@example.com");
    const sessionEvents = smtp.events.slice(eventsBefore).filter((e) => e.sessionId === next!.sessionId).map((e) => e.type);
    expect(sessionEvents.slice(0, 4)).toEqual(["connect", "mail-from", "rset", "mail-from"]);
    smtp.deferRecipient("full@example.com", false);
  });

  it("keeps a 421 to MAIL FROM as the server's reply, and as a reason to leave the server alone until the next run", async () => {
    smtp.setTemporaryFailure(true, 421);
    const err = await failureOf(withSmtp(settings, (s) => s.send(email("closing@example.com"))));
    expect(err.kind).toBe("transient");
    expect(err.message).toContain("421");
    expect(isServerFailure(err)).toBe(true);
  });

  it("reports a refused connection as transient and as the server being down", async () => {
    await smtp.stop();
    const err = await failureOf(withSmtp(settings, (s) => s.send(email("down@example.com"))));
    expect(err.kind).toBe("transient");
    expect(isServerFailure(err)).toBe(true);
  });

  it("reports wrong credentials (535) as an auth failure, and sends with the right ones", async () => {
    smtp.requireAuth({ user: "relances", password: "s3cret" });
    const wrong = await failureOf(withSmtp({ ...settings, user: "relances", password: "nope" }, (s) => s.send(email("auth@example.com"))));
    expect(wrong.kind).toBe("auth");
    expect(wrong.message).not.toContain("nope");
    await withSmtp({ ...settings, user: "relances", password: "s3cret" }, (s) => s.send(email("auth@example.com")));
    expect(smtp.receivedBy("auth@example.com")).toHaveLength(1);
  });
});
