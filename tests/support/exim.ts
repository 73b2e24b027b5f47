// A throwaway Exim 4.96 relay (Debian's exim4-daemon-light, unpacked into its own prefix by
// prepare-system.sh: MTAs conflict with each other as packages) for the interop matrix: submission
// with STARTTLS and AUTH PLAIN/LOGIN on one loopback port, implicit TLS on another, every accepted
// message kept in its queue (queue_only), and real refusals from its RCPT ACL.

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canConnect, selfSignedCertificate, stopChild } from "./imap-test-server.js";
import { freePort, waitFor } from "./ports.js";
import type { RelayRefusals, TestRelay } from "./relay.js";

const EXIM = "/opt/lokario-test/exim/usr/sbin/exim4";

export async function startExim(refusals: RelayRefusals): Promise<TestRelay> {
  const dir = mkdtempSync(join(tmpdir(), "lokario-exim-"));
  chmodSync(dir, 0o755);
  for (const sub of ["spool", "log"]) mkdirSync(join(dir, sub));
  // Exim runs as the mail user (exim_user below) once listening: its spool and logs must be its own.
  execFileSync("chown", ["-R", "mail:mail", join(dir, "spool"), join(dir, "log")]);
  const { certFile, keyFile, certPem } = selfSignedCertificate(dir);
  chmodSync(keyFile, 0o644);
  const credentials = { user: "relances", password: `pw-${randomBytes(8).toString("hex")}` };
  const [port, tlsPort] = [await freePort(), await freePort()];
  const configFile = join(dir, "exim.conf");
  writeFileSync(configFile, config(dir, certFile, keyFile, port, tlsPort, credentials, refusals));
  // -bdf: the daemon in the foreground; -q0 is not given, so nothing is ever delivered from the queue.
  const child = spawn(EXIM, ["-C", configFile, "-bdf"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  await waitFor("Exim to listen", async () => {
    if (child.exitCode !== null) throw new Error(`exim exited (${child.exitCode}): ${log} ${readLog(dir)}`);
    return (await canConnect(port)) && (await canConnect(tlsPort));
  });
  return {
    name: "Exim 4.96",
    port, tlsPort, certPem, credentials,
    queued: () => {
      const input = join(dir, "spool", "input");
      let files: string[] = [];
      try {
        files = readdirSync(input).filter((f) => f.endsWith("-H"));
      } catch {
        return [];
      }
      // A -H spool file holds the envelope and the headers of one queued message.
      return files.map((f) => readFileSync(join(input, f), "latin1"));
    },
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, "log", "mainlog"), "utf8") + readFileSync(join(dir, "log", "paniclog"), "utf8");
  } catch {
    return "";
  }
}

function config(
  dir: string, certFile: string, keyFile: string, port: number, tlsPort: number,
  credentials: { user: string; password: string }, refusals: RelayRefusals,
): string {
  return `
exim_user = mail
exim_group = mail
primary_hostname = relay.example.test
spool_directory = ${dir}/spool
log_file_path = ${dir}/log/%slog
pid_file_path = ${dir}/exim.pid
keep_environment =
local_interfaces = <; 127.0.0.1.${port} ; 127.0.0.1.${tlsPort}
tls_on_connect_ports = ${tlsPort}
tls_advertise_hosts = *
tls_certificate = ${certFile}
tls_privatekey = ${keyFile}
# AUTH only once the session is encrypted, as a submission service offers it.
auth_advertise_hosts = \${if eq{$tls_in_cipher}{}{}{*}}
queue_only = true
host_lookup =
rfc1413_hosts =
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  defer recipients = ${refusals.deferred}
        message = 4.2.2 Mailbox full, try again later
  deny  recipients = ${refusals.refused}
        message = 5.1.1 <$local_part@$domain>: no such user here
  accept authenticated = *
  deny  message = 5.7.1 Relaying denied: authentication required

begin authenticators
plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = \${if and {{eq{$auth2}{${credentials.user}}}{eq{$auth3}{${credentials.password}}}}}
  server_set_id = $auth2
login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = "Username:: : Password::"
  server_condition = \${if and {{eq{$auth1}{${credentials.user}}}{eq{$auth2}{${credentials.password}}}}}
  server_set_id = $auth1
`;
}
