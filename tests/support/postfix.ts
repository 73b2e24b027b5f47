// A throwaway Postfix 3.7 relay (Debian's postfix, unpacked into its own prefix by prepare-system.sh,
// its programs' library path pointed at that prefix) for the interop matrix: submission with
// STARTTLS and AUTH on one loopback port, implicit TLS (smtpd_tls_wrappermode, as on 465) on another,
// every accepted message put on hold in its queue, and real refusals from an access map at RCPT TO.
// AUTH goes through a Dovecot of its own that does nothing else (Postfix's usual SASL partner): Debian's
// smtpd never read a Cyrus SASL configuration outside /etc.

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { canConnect, selfSignedCertificate, stopChild } from "./imap-test-server.js";
import { freePort, waitFor } from "./ports.js";
import type { RelayRefusals, TestRelay } from "./relay.js";

export const POSTFIX_PREFIX = "/opt/lokario-test/postfix";

export async function startPostfix(refusals: RelayRefusals): Promise<TestRelay> {
  const dir = mkdtempSync(join(tmpdir(), "lokario-postfix-"));
  chmodSync(dir, 0o755);
  for (const sub of ["conf", "queue", "data", "auth", "auth/run", "auth/state"]) mkdirSync(join(dir, sub));
  execFileSync("chown", ["postfix", join(dir, "data")]);
  const { certFile, keyFile, certPem } = selfSignedCertificate(dir);
  const credentials = { user: "relances", password: `pw-${randomBytes(8).toString("hex")}` };
  writeFileSync(join(dir, "auth/users"), `${credentials.user}:{PLAIN}${credentials.password}\n`);
  writeFileSync(join(dir, "auth/dovecot.conf"), authConfig(dir));
  const auth = spawnSync("dovecot", ["-c", join(dir, "auth/dovecot.conf")], { stdio: "ignore", timeout: 20_000 });
  if (auth.status !== 0) throw new Error(`dovecot (SASL for Postfix) did not start: see ${dir}/auth/dovecot.log`);

  const [port, tlsPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, "conf/main.cf"), mainConfig(dir, certFile, keyFile, refusals));
  writeFileSync(join(dir, "conf/master.cf"), masterConfig(port, tlsPort));
  const postfix = join(POSTFIX_PREFIX, "usr/sbin/postfix");
  const child = spawn(postfix, ["-c", join(dir, "conf"), "start-fg"], { stdio: "ignore" });
  await waitFor("Postfix to listen", async () => {
    // Postfix logs into maillog (maillog_file): an early exit is explained there.
    if (child.exitCode !== null) throw new Error(`postfix exited (${child.exitCode}): ${readLog(dir)}`);
    return (await canConnect(port)) && (await canConnect(tlsPort));
  });
  return {
    name: "Postfix 3.7",
    port, tlsPort, certPem, credentials,
    // A queue file is Postfix's record format; the envelope and the headers are in it as plain text.
    queued: () => readdirSync(join(dir, "queue/hold")).map((f) => readFileSync(join(dir, "queue/hold", f), "latin1")),
    stop: async () => {
      spawnSync(postfix, ["-c", join(dir, "conf"), "stop"], { stdio: "ignore", timeout: 20_000 });
      await stopChild(child);
      spawnSync("doveadm", ["-c", join(dir, "auth/dovecot.conf"), "stop"], { stdio: "ignore", timeout: 20_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, "maillog"), "utf8").slice(-2000);
  } catch {
    return "";
  }
}

function authConfig(dir: string): string {
  return `
base_dir = ${dir}/auth/run
state_dir = ${dir}/auth/state
protocols =
listen = 127.0.0.1
ssl = no
log_path = ${dir}/auth/dovecot.log
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/auth/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener ${dir}/auth/postfix {
    mode = 0666
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`;
}

function mainConfig(dir: string, certFile: string, keyFile: string, refusals: RelayRefusals): string {
  return `
compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
daemon_directory = ${POSTFIX_PREFIX}/usr/lib/postfix/sbin
command_directory = ${POSTFIX_PREFIX}/usr/sbin
shlib_directory = ${POSTFIX_PREFIX}/usr/lib/postfix
meta_directory = ${POSTFIX_PREFIX}/etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.example.test
mydomain = example.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file_prefixes = ${dir}
maillog_file = ${dir}/maillog
smtpd_tls_cert_file = ${certFile}
smtpd_tls_key_file = ${keyFile}
smtpd_tls_security_level = may
# AUTH only once the session is encrypted, as a submission service offers it.
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = ${dir}/auth/postfix
smtpd_recipient_restrictions = check_recipient_access inline:{ {${refusals.deferred} = 451 4.2.2 Mailbox full, try again later}, {${refusals.refused} = 550 5.1.1 No such user here} }, permit_sasl_authenticated, reject
# Every accepted message waits in the hold queue: nothing is ever delivered from here.
smtpd_data_restrictions = check_client_access static:HOLD
`;
}

function masterConfig(port: number, tlsPort: number): string {
  // No chroot (the fifth column, n): the daemons run from the prefix and the temporary folder.
  return `
127.0.0.1:${port} inet n - n - - smtpd
127.0.0.1:${tlsPort} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
`;
}
