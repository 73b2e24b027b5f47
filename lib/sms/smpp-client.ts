// An SMPP 3.4 transceiver session with an operator's or aggregator's gateway (SMSC), for one run:
// bound on first use, reused for every SMS of the run, unbound at the end. While bound, the SMSC
// pushes `deliver_sm`: delivery receipts (esm_class bit 2) and the clients' own texts (a STOP);
// each is acknowledged and handed to `onDeliver`, and close() waits for those handlers.
//
// A text of several segments goes as one `submit_sm` per segment with a concatenation header
// (UDH IEI 0x00, 3GPP TS 23.040 §9.2.3.24.1), the form every SMSC accepts; each gets its own id.

import smpp, { type PDU, type Session } from "smpp";
import type { MailHostPolicy } from "../config.js";
import { shortReason } from "../errors.js";
import type { Logger } from "../log.js";
import { type MailTarget, resolveMailHost } from "../mail/mail-host-guard.js";
import { type InboundSmsEvent, parseDeliverSm } from "./smpp-deliver.js";
import { encodeSegments } from "./segments.js";
import { type OutgoingSms, type SmsProvider, SmsSubmitError, type SubmittedSms } from "./sms-provider.js";

export interface SmppAccount {
  host: string;
  port: number;
  isSecure: boolean;
  systemId: string;
  password: string;
  systemType?: string;
  timeoutMs: number;
  /**
   * Which addresses the gateway may be at: a company's own gateway (typed in its settings) must not
   * reach the internal network, like its mail servers; unset for the operator's global account.
   */
  hostPolicy?: MailHostPolicy;
}

/** SMPP command_status values that mean "later", not "never" (SMPP 3.4 §5.1.3). */
const RETRY_LATER_STATUSES = new Set([smpp.ESME_RTHROTTLED, smpp.ESME_RMSGQFUL, smpp.ESME_RSYSERR, 0x64 /* ESME_RX_T_APPN */]);
/** TON/NPI for an alphanumeric sender (5/0) and for international numbers (1/1). */
const ALPHANUMERIC = { ton: 5, npi: 0 };
const INTERNATIONAL = { ton: 1, npi: 1 };
const CONCATENATED_UDH_INDICATOR = 0x40;

/** Opens (lazily) a session with `account`; `onDeliver` receives receipts and inbound texts. */
export function smppProvider(
  account: SmppAccount,
  deps: { onDeliver(event: InboundSmsEvent, providerKey: string): Promise<void>; log: Logger },
): SmsProvider {
  const key = `smpp:${account.systemId}@${account.host}:${account.port}`;
  let session: Promise<Session> | undefined;
  let isClosed = false;
  const handlers = new Set<Promise<void>>();
  let reference = Math.floor(Math.random() * 256);

  const open = (): Promise<Session> => {
    session ??= bind(account, (pdu, live) => {
      live.send(pdu.response());
      const event = parseDeliverSm(pdu);
      const handled = deps.onDeliver(event, key).catch((err: unknown) => {
        deps.log.error("smpp deliver_sm not recorded", { provider: key, error: shortReason(err) });
      });
      handlers.add(handled);
      void handled.finally(() => handlers.delete(handled));
    }).catch((err: unknown) => {
      session = undefined;
      throw err;
    });
    return session;
  };

  return {
    key,
    async submit(sms: OutgoingSms, hooks): Promise<SubmittedSms> {
      if (isClosed) throw new SmsSubmitError("transient", "SMPP session already closed");
      const live = await open();
      reference = (reference + 1) % 256;
      const pdus = submitFieldsOf(sms, reference);
      const messageIds: string[] = [];
      await hooks.onHandOver();
      for (const fields of pdus) {
        const pdu = await submitOne(live, fields, account.timeoutMs, messageIds.length > 0);
        messageIds.push(String(pdu.message_id));
      }
      return { messageIds, response: `smpp submit_sm_resp OK: ${messageIds.join(", ")}` };
    },
    async close(): Promise<void> {
      isClosed = true;
      const current = session;
      session = undefined;
      if (!current) return;
      const live = await current.catch(() => undefined);
      if (!live) return;
      // The receipts that arrived before the unbind answer are recorded before the run ends.
      await unbind(live, account.timeoutMs);
      await Promise.all([...handlers]);
    },
  };
}

/** The submit_sm fields of each segment of `sms`; several segments share concatenation reference `reference`. */
function submitFieldsOf(sms: OutgoingSms, reference: number): Record<string, unknown>[] {
  const segments = encodeSegments(sms.text);
  const source = /^\+\d+$/.test(sms.from) ? { addr: sms.from.slice(1), ...INTERNATIONAL } : { addr: sms.from, ...ALPHANUMERIC };
  return segments.map((segment, index) => {
    const udh = segments.length > 1 ? Buffer.from([0x05, 0x00, 0x03, reference, segments.length, index + 1]) : undefined;
    return {
      source_addr: source.addr,
      source_addr_ton: source.ton,
      source_addr_npi: source.npi,
      destination_addr: sms.to.slice(1),
      dest_addr_ton: INTERNATIONAL.ton,
      dest_addr_npi: INTERNATIONAL.npi,
      esm_class: udh ? CONCATENATED_UDH_INDICATOR : 0,
      data_coding: segment.dataCoding,
      registered_delivery: 1,
      short_message: udh ? Buffer.concat([udh, segment.bytes]) : segment.bytes,
    };
  });
}

/** Unbinds `live` and closes it, or destroys it when the gateway does not answer within `timeoutMs`. */
function unbind(live: Session, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => { live.destroy(); resolve(); }, timeoutMs);
    const sent = live.unbind(() => { clearTimeout(timer); live.close(); resolve(); });
    if (!sent) { clearTimeout(timer); live.destroy(); resolve(); }
  });
}

async function bind(account: SmppAccount, onDeliver: (pdu: PDU, session: Session) => void): Promise<Session> {
  let target: MailTarget = { address: account.host };
  if (account.hostPolicy) {
    try {
      target = await resolveMailHost(account.host, account.port, account.hostPolicy, { timeoutMs: account.timeoutMs });
    } catch (err) {
      // The company's settings need fixing: its texts wait, as for a mail server refused this way.
      throw new SmsSubmitError("auth", shortReason(err), { isAccountDown: true, cause: err });
    }
  }
  return new Promise((resolve, reject) => {
    // The checked address, while TLS still checks the certificate against the gateway's name.
    const session = smpp.connect({ host: target.address, port: account.port, tls: account.isSecure, ...(target.servername ? { servername: target.servername } : {}) });
    const timer = setTimeout(() => {
      session.destroy();
      reject(new SmsSubmitError("transient", `SMPP gateway ${account.host}:${account.port} did not answer the bind in time`, { isAccountDown: true }));
    }, account.timeoutMs);
    const fail = (err: unknown) => {
      clearTimeout(timer);
      reject(new SmsSubmitError("transient", `SMPP gateway ${account.host}:${account.port} unreachable: ${shortReason(err)}`, { isAccountDown: true, cause: err }));
    };
    session.once("error", fail);
    session.on("deliver_sm", (pdu: PDU) => onDeliver(pdu, session));
    session.on("enquire_link", (pdu: PDU) => session.send(pdu.response()));
    session.on("unbind", (pdu: PDU) => { session.send(pdu.response()); session.close(); });
    session.on(account.isSecure ? "secureConnect" : "connect", () => {
      session.bind_transceiver(
        { system_id: account.systemId, password: account.password, system_type: account.systemType ?? "", interface_version: 0x34 },
        (pdu) => {
          clearTimeout(timer);
          session.off("error", fail);
          // Later socket errors surface as the failure of the submit in flight (see submitOne).
          session.on("error", () => {});
          if (pdu.command_status === smpp.ESME_ROK) return resolve(session);
          session.destroy();
          reject(new SmsSubmitError("auth", `SMPP bind refused (command_status 0x${pdu.command_status.toString(16)})`, { isAccountDown: true }));
        },
      );
    });
  });
}

/**
 * One submit_sm and its answer. No answer (connection lost, time-out) after the request left means
 * the SMSC may have taken it: never retried. `isAfterFirstPart`: an earlier segment was accepted,
 * so any refusal leaves the client with part of the text, and is not retried either.
 */
function submitOne(session: Session, fields: Record<string, unknown>, timeoutMs: number, isAfterFirstPart: boolean): Promise<PDU> {
  return new Promise((resolve, reject) => {
    let isDone = false;
    const finish = (err?: SmsSubmitError, pdu?: PDU) => {
      if (isDone) return;
      isDone = true;
      clearTimeout(timer);
      session.off("close", onClose);
      if (err) reject(err); else resolve(pdu!);
    };
    const lost = (why: string) =>
      new SmsSubmitError("transient", `SMPP ${why} before the gateway answered submit_sm: it may have the text`, { mayHaveBeenSent: true, isAccountDown: true });
    const onClose = () => finish(lost("connection lost"));
    const timer = setTimeout(() => finish(lost(`no answer in ${timeoutMs} ms`)), timeoutMs);
    session.once("close", onClose);
    const isWritten = session.submit_sm(fields, (pdu) => {
      const status = pdu.command_status;
      if (status === smpp.ESME_ROK) return finish(undefined, pdu);
      const reason = `SMPP submit_sm refused (command_status 0x${status.toString(16)})`;
      if (isAfterFirstPart) return finish(new SmsSubmitError("permanent", `${reason} after earlier segments were accepted`, { mayHaveBeenSent: true }));
      if (RETRY_LATER_STATUSES.has(status)) return finish(new SmsSubmitError("transient", reason, { isAccountDown: true }));
      finish(new SmsSubmitError("permanent", reason));
    });
    if (!isWritten) finish(new SmsSubmitError("transient", "SMPP connection closed before submit_sm was written", { mayHaveBeenSent: isAfterFirstPart, isAccountDown: true }));
  });
}
