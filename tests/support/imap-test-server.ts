// What every IMAP server the interop matrix starts offers the tests: two loopback ports (STARTTLS and
// implicit TLS, one self-signed certificate), fresh users, and where the server allows it, a way to
// give a folder a new UIDVALIDITY behind the client's back.

import { execFileSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";

export interface ImapUser {
  user: string;
  password: string;
}

export interface ImapTestServer {
  /** The product and version, as the matrix names it. */
  name: string;
  /** Plain IMAP with STARTTLS offered. */
  port: number;
  /** Implicit TLS (IMAPS). */
  tlsPort: number;
  certPem: string;
  /** A new user with an empty INBOX, able to log in at once. */
  addUser(): Promise<ImapUser>;
  /**
   * Gives the user's INBOX a new UIDVALIDITY, as a server rebuilding its index does; absent when the
   * server offers no supported way (the matrix says so).
   */
  renumberInbox?: (user: ImapUser) => Promise<void>;
  stop(): Promise<void>;
}

/** A self-signed certificate for localhost and 127.0.0.1 in `dir` (cert.pem, key.pem), as Dovecot's. */
export function selfSignedCertificate(dir: string): { certFile: string; keyFile: string; certPem: string } {
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", keyFile, "-out", certFile,
    "-days", "30", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ], { stdio: "pipe" });
  return { certFile, keyFile, certPem: readFileSync(certFile, "utf8") };
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/** Stops a foreground server started by a test, and waits until it is gone. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}
