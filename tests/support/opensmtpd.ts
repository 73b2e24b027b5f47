// A throwaway OpenSMTPD 7.4 relay (Debian's package from the release's backports, unpacked into its
// own prefix by prepare-system.sh: bookworm's own 6.8 fails every TLS handshake with OpenSSL 3) for
// the interop matrix: submission with STARTTLS and AUTH on one loopback port, implicit TLS (smtps, as
// on 465) on another, every accepted message kept in its queue (outgoing delivery paused), a real 4xx
// at RCPT TO from a builtin filter and a real 5xx from its ruleset.
//
// Its queue, its control socket and the empty folder its unprivileged processes chroot into are
// compiled in (no option moves them): smtpd runs in a mount namespace of its own, with the test's
// folders mounted over the queue and the socket's folder there, so runs on one machine never share them.

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canConnect, selfSignedCertificate, stopChild } from "./imap-test-server.js";
import { freePort, waitFor } from "./ports.js";
import type { RelayRefusals, TestRelay } from "./relay.js";

const SMTPD = "/opt/lokario-test/opensmtpd/usr/sbin/smtpd";
// The paths compiled into Debian's smtpd (`strings smtpd`): /var/run/smtpd.sock is in /run.
const QUEUE = "/var/spool/smtpd";
const SOCKET_DIR = "/run";
const CHROOT = "/var/lib/opensmtpd/empty";

export async function startOpenSmtpd(refusals: RelayRefusals): Promise<TestRelay> {
  if (!existsSync(SMTPD)) throw new Error(`OpenSMTPD is not installed at ${SMTPD}: run tests/support/prepare-system.sh as root`);
  const dir = mkdtempSync(join(tmpdir(), "lokario-opensmtpd-"));
  chmodSync(dir, 0o755);
  // smtpd wants its queue folder root's and rwx--x--x; it makes the folders inside itself.
  mkdirSync(join(dir, "queue"), { mode: 0o711 });
  chmodSync(join(dir, "queue"), 0o711);
  mkdirSync(join(dir, "run"));
  // The mount points, as the package would have left them: empty, and never written to outside a namespace.
  for (const path of [QUEUE, CHROOT]) mkdirSync(path, { recursive: true });
  const { certFile, keyFile, certPem } = selfSignedCertificate(dir);
  const credentials = { user: "relances", password: `pw-${randomBytes(8).toString("hex")}` };
  // smtpd checks passwords with crypt(3): a SHA-512 crypt hash.
  const hash = execFileSync("openssl", ["passwd", "-6", "-stdin"], { input: credentials.password }).toString().trim();
  writeFileSync(join(dir, "credentials"), `${credentials.user} ${hash}\n`);
  writeFileSync(join(dir, "deferred"), `${refusals.deferred}\n`);
  writeFileSync(join(dir, "refused"), `${refusals.refused}\n`);
  const [port, tlsPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, "smtpd.conf"), config(dir, certFile, keyFile, port, tlsPort));

  // unshare execs sh, which execs smtpd: the child is smtpd itself, in the foreground (-d), its
  // outgoing delivery paused from the start (-P mta).
  const script = `mount --bind "$1/queue" ${QUEUE} && mount --bind "$1/run" ${SOCKET_DIR} && exec ${SMTPD} -d -P mta -f "$1/smtpd.conf"`;
  const child = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, "sh", dir], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  let spawnFailure: Error | undefined;
  child.once("error", (error) => {
    spawnFailure = error;
  });
  await waitFor("OpenSMTPD to listen", async () => {
    if (spawnFailure) throw new Error(`OpenSMTPD could not be started (unshare): ${spawnFailure.message}`);
    if (child.exitCode !== null) throw new Error(`OpenSMTPD exited (${child.exitCode}): ${log}`);
    return (await canConnect(port)) && (await canConnect(tlsPort));
  });
  return {
    name: "OpenSMTPD 7.4",
    port, tlsPort, certPem, credentials,
    queued: () => {
      // queue/<bucket>/<message id>/: one envelope file per recipient (text) and the message itself.
      const queue = join(dir, "queue", "queue");
      const messages: string[] = [];
      const list = (path: string) => (existsSync(path) ? readdirSync(path) : []);
      for (const bucket of list(queue)) {
        for (const id of list(join(queue, bucket))) {
          const files = list(join(queue, bucket, id));
          const envelopes = files.filter((f) => f !== "message").map((f) => readFileSync(join(queue, bucket, id, f), "latin1"));
          messages.push([...envelopes, readFileSync(join(queue, bucket, id, "message"), "latin1")].join("\n"));
        }
      }
      return messages;
    },
    stop: async () => {
      // smtpd ends its processes on SIGTERM; the namespace, and its mounts, go with the last of them.
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function config(dir: string, certFile: string, keyFile: string, port: number, tlsPort: number): string {
  return `
pki localhost cert "${certFile}"
pki localhost key "${keyFile}"
table credentials file:${dir}/credentials
table deferred file:${dir}/deferred
table refused file:${dir}/refused
# No rule in OpenSMTPD's ruleset answers 4xx: a builtin filter does, at RCPT TO.
filter deferred phase rcpt-to match rcpt-to <deferred> reject "451 4.2.2 Mailbox full, try again later"
# tls: STARTTLS offered, and AUTH only once the session is encrypted (OpenSMTPD never offers it before).
listen on 127.0.0.1 port ${port} hostname relay.example.test tls pki localhost auth <credentials> filter deferred
listen on 127.0.0.1 port ${tlsPort} hostname relay.example.test smtps pki localhost auth <credentials> filter deferred
# Delivery is paused (-P mta); were it not, the only way out is a loopback port nothing listens on.
action "queue" relay host "smtp://127.0.0.1:9"
match from any for rcpt-to <refused> reject
match auth from any for any action "queue"
`;
}
