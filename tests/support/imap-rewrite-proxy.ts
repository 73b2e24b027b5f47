// An IMAP proxy over TLS in front of Dovecot that rewrites the server's answers line by line, to stand
// for servers that misbehave in ways Dovecot never does: GNU Mailutils imap4d (Maildir, messages still
// in new/) gives a new UIDVALIDITY to every EXAMINE, and once answered a UID FETCH without a message
// its UID SEARCH had just announced. Literals ({n} then n bytes) pass through untouched.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect as tlsConnect, createServer, type TLSSocket } from "node:tls";
import type { DovecotInfo } from "./dovecot.js";

export interface ImapRewriteProxy {
  port: number;
  /** From now on, every EXAMINE answer carries a UIDVALIDITY never given before; SELECT is left alone. */
  renumberReadOnlyOpens(isOn: boolean): void;
  /** From now on, drops the metadata FETCH line (no literal) of the message with this UID, or none. */
  hideFetchOfUid(uid: number | undefined): void;
  /** EXAMINE and SELECT commands seen, in order. */
  opens(): string[];
  close(): Promise<void>;
}

/** Starts the proxy on a free loopback port, presenting Dovecot's own certificate. */
export async function startImapRewriteProxy(dovecot: DovecotInfo): Promise<ImapRewriteProxy> {
  const sockets = new Set<TLSSocket>();
  const opens: string[] = [];
  let isRenumbering = false;
  let hiddenUid: number | undefined;
  let nextUidValidity = 4_000_000;
  const server = createServer(
    { key: readFileSync(join(dovecot.dir, "key.pem")), cert: readFileSync(join(dovecot.dir, "cert.pem")) },
    (client) => {
      const upstream = tlsConnect({ host: "127.0.0.1", port: dovecot.tlsPort, ca: dovecot.certPem, servername: "localhost" });
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
        s.on("error", () => {});
      }
      let lastCommand = "";
      client.on("data", (chunk: Buffer) => {
        for (const match of chunk.toString("latin1").matchAll(/^[A-Za-z0-9.]+ ([A-Za-z]+)/gm)) {
          lastCommand = match[1]!.toUpperCase();
          if (lastCommand === "EXAMINE" || lastCommand === "SELECT") opens.push(lastCommand);
        }
        upstream.write(chunk);
      });
      let pending = Buffer.alloc(0);
      let literalBytes = 0;
      upstream.on("data", (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        const out: Buffer[] = [];
        for (;;) {
          if (literalBytes > 0) {
            const take = Math.min(literalBytes, pending.length);
            out.push(pending.subarray(0, take));
            pending = pending.subarray(take);
            literalBytes -= take;
            if (literalBytes > 0) break;
          }
          const end = pending.indexOf("\r\n");
          if (end < 0) break;
          let line = pending.subarray(0, end).toString("latin1");
          pending = pending.subarray(end + 2);
          const literal = /\{(\d+)\}$/.exec(line);
          if (literal) literalBytes = Number(literal[1]);
          else if (hiddenUid !== undefined && /^\* \d+ FETCH \(/.test(line) && new RegExp(`\\bUID ${hiddenUid}\\b`).test(line)) continue;
          if (isRenumbering && lastCommand === "EXAMINE") line = line.replace(/\[UIDVALIDITY \d+\]/, () => `[UIDVALIDITY ${nextUidValidity++}]`);
          out.push(Buffer.from(`${line}\r\n`, "latin1"));
        }
        if (out.length > 0) client.write(Buffer.concat(out));
      });
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("rewrite proxy has no port");
  return {
    port: address.port,
    renumberReadOnlyOpens: (isOn) => {
      isRenumbering = isOn;
    },
    hideFetchOfUid: (uid) => {
      hiddenUid = uid;
    },
    opens: () => [...opens],
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
