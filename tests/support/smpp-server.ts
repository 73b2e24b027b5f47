// A real SMPP 3.4 gateway (SMSC) for tests, built on the `smpp` package's server side: it binds
// transceivers (checking system_id and password), answers every submit_sm with a message id, keeps
// what it received, and can be told to answer with a throttling error, to drop the connection
// instead of answering, to send the delivery receipts of what it accepted, or to send a client's
// own text (a STOP).

import smpp, { type PDU, type Session } from "smpp";
import { useFixture } from "./fixture.js";
import { freePort } from "./ports.js";

export interface SubmittedToSmsc {
  messageId: string;
  from: string;
  to: string;
  dataCoding: number;
  esmClass: number;
  /** The segment's text, decoded as its data_coding says, without the concatenation header. */
  text: string;
}

/** "hold": the submit_sm is recorded as received and never answered (a gateway busy past a kill). */
export type SubmitBehaviour = "accept" | "throttle" | "drop" | "hold";

export interface TestSmppServer {
  port: number;
  url: string;
  systemId: string;
  password: string;
  submitted: SubmittedToSmsc[];
  /** What the next submit_sm get (then "accept" again once the list is used up). */
  queueBehaviours(...behaviours: SubmitBehaviour[]): void;
  /** Send a receipt right after each accepted submit_sm (the default) or not. */
  setImmediateReceipts(isOn: boolean): void;
  /** A client's text (MO message) on every bound session. */
  sendText(from: string, text: string): void;
  /** The recipient of the next accepted submit_sm answers `text` right after its receipt. */
  queueAnswer(text: string): void;
  binds(): number;
  close(): Promise<void>;
}

/** The SMPP gateway of the tests of a `describe` (call it there, or at the top of a file), started before them and closed after. */
export function useSmppServer(): TestSmppServer {
  return useFixture("the SMPP gateway", { start: startSmppServer, close: (server) => server.close() });
}

export async function startSmppServer(): Promise<TestSmppServer> {
  const port = await freePort();
  const systemId = "lokario";
  const password = "s3cret";
  const submitted: SubmittedToSmsc[] = [];
  const behaviours: SubmitBehaviour[] = [];
  const bound = new Set<Session>();
  let bindCount = 0;
  let isReceiptImmediate = true;
  let next = 1000;
  const answers: string[] = [];
  const sendMo = (session: Session, from: string, text: string) =>
    session.deliver_sm({ source_addr: from.replace(/^\+/, ""), source_addr_ton: 1, destination_addr: "LOKARIO", esm_class: 0, short_message: text });

  const server = smpp.createServer((session) => {
    session.on("error", () => {});
    session.on("close", () => bound.delete(session));
    session.on("bind_transceiver", (pdu: PDU) => {
      if (pdu.system_id !== systemId || pdu.password !== password) {
        session.send(pdu.response({ command_status: smpp.ESME_RBINDFAIL }));
        return;
      }
      bindCount++;
      bound.add(session);
      session.send(pdu.response({ system_id: "testsmsc" }));
    });
    session.on("enquire_link", (pdu: PDU) => session.send(pdu.response()));
    session.on("unbind", (pdu: PDU) => {
      session.send(pdu.response());
      session.close();
    });
    session.on("submit_sm", (pdu: PDU) => {
      const behaviour = behaviours.shift() ?? "accept";
      if (behaviour === "drop") return session.destroy();
      if (behaviour === "throttle") return session.send(pdu.response({ command_status: smpp.ESME_RTHROTTLED }));
      const messageId = `smsc-${next++}`;
      const raw = pdu.short_message as { message?: unknown; udh?: unknown } | Buffer;
      const esmClass = Number(pdu.esm_class ?? 0);
      submitted.push({
        messageId,
        from: String(pdu.source_addr),
        to: String(pdu.destination_addr),
        dataCoding: Number(pdu.data_coding ?? 0),
        esmClass,
        text: textOf(raw),
      });
      if (behaviour === "hold") return;
      session.send(pdu.response({ message_id: messageId }));
      if (isReceiptImmediate) sendReceipt(session, messageId, String(pdu.destination_addr));
      const answer = answers.shift();
      if (answer !== undefined) sendMo(session, String(pdu.destination_addr), answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", () => resolve()));

  return {
    port,
    url: `smpp://127.0.0.1:${port}`,
    systemId,
    password,
    submitted,
    queueBehaviours: (...list) => behaviours.push(...list),
    setImmediateReceipts: (isOn) => { isReceiptImmediate = isOn; },
    sendText: (from, text) => {
      for (const session of bound) sendMo(session, from, text);
    },
    queueAnswer: (text) => answers.push(text),
    binds: () => bindCount,
    close: async () => {
      for (const session of [...server.sessions]) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A delivery receipt as SMSCs send them: esm_class 0x04, the TLVs, and the Appendix B text. */
function sendReceipt(session: Session, messageId: string, to: string): void {
  session.deliver_sm({
    source_addr: to,
    destination_addr: "LOKARIO",
    esm_class: 0x04,
    receipted_message_id: messageId,
    message_state: 2,
    short_message: `id:${messageId} sub:001 dlvrd:001 submit date:2603101000 done date:2603101000 stat:DELIVRD err:000 text:`,
  });
}

function textOf(raw: { message?: unknown } | Buffer): string {
  if (Buffer.isBuffer(raw)) return raw.toString("latin1");
  return String(raw.message ?? "");
}
