// A throwaway GNU Mailutils imap4d (Debian's mailutils-imap4d, 3.15) for the interop matrix: Maildir
// folders, users in a virtual-domain passwd file (crypt hashes, read at each login), STARTTLS on one
// loopback port and implicit TLS on another.
//
// imap4d writes a folder's UIDVALIDITY down only when a client opens it read-write: until then (an
// empty folder, or new mail still in new/), every read-only EXAMINE announces a new one. The mbox
// format does the same until its X-IMAPbase header is written (docs/interop.md).

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./ports.js";
import { canConnect, type ImapTestServer, type ImapUser, selfSignedCertificate, stopChild } from "./imap-test-server.js";

const IMAP4D = "/usr/sbin/imap4d";
const DOMAIN = "example.test";
/** The unprivileged account the mail files belong to (imap4d switches to the user's uid). */
const NOBODY = { uid: 65534, gid: 65534 };

export async function startImap4d(): Promise<ImapTestServer> {
  const dir = mkdtempSync(join(tmpdir(), "lokario-imap4d-"));
  chmodSync(dir, 0o755);
  for (const sub of ["mail", "passwd"]) mkdirSync(join(dir, sub));
  execFileSync("chown", [`${NOBODY.uid}:${NOBODY.gid}`, join(dir, "mail")]);
  const { certFile, keyFile, certPem } = selfSignedCertificate(dir);
  const passwdFile = join(dir, "passwd", DOMAIN);
  writeFileSync(passwdFile, "");
  const [port, tlsPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, "imap4d.conf"), config(dir, certFile, keyFile, port, tlsPort));
  const child = spawn(IMAP4D, [`--config-file=${join(dir, "imap4d.conf")}`, "--no-site-config"], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  await waitFor("imap4d to listen", async () => {
    if (child.exitCode !== null) throw new Error(`imap4d exited (${child.exitCode}): ${log}`);
    return (await canConnect(port)) && (await canConnect(tlsPort));
  });

  return {
    name: "GNU Mailutils imap4d 3.15",
    port, tlsPort, certPem,
    addUser: async (): Promise<ImapUser> => {
      const local = `u${randomBytes(5).toString("hex")}`;
      const password = `pw-${randomBytes(8).toString("hex")}`;
      const hash = execFileSync("openssl", ["passwd", "-6", password]).toString().trim();
      // The INBOX a delivery agent would have made: imap4d answers APPEND [TRYCREATE] before it exists.
      for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(dir, "mail", local, "INBOX", sub), { recursive: true });
      execFileSync("chown", ["-R", `${NOBODY.uid}:${NOBODY.gid}`, join(dir, "mail", local)]);
      appendFileSync(passwdFile, `${local}:${hash}:${NOBODY.uid}:${NOBODY.gid}::${join(dir, "mail", local)}:/bin/false\n`);
      return { user: `${local}@${DOMAIN}`, password };
    },
    // imap4d keeps a Maildir folder's UIDVALIDITY in its .mu-prop file: a new value there is what a
    // rebuilt index looks like to a client.
    renumberInbox: async ({ user }) => {
      const propFile = join(dir, "mail", user.split("@")[0]!, "INBOX", ".mu-prop");
      const props = readFileSync(propFile, "utf8");
      const next = props.replace(/^uid-validity: (\d+)$/m, (_, value: string) => `uid-validity: ${Number(value) + 1000}`);
      if (next === props) throw new Error(`no uid-validity in ${propFile}`);
      writeFileSync(propFile, next);
    },
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function config(dir: string, certFile: string, keyFile: string, port: number, tlsPort: number): string {
  return `
mode daemon;
foreground true;
logging { syslog false; }
# virtdomain finds the user (<passwd-dir>/<domain>); "generic" checks the password against its crypt hash.
auth { authentication generic; authorization virtdomain; }
virtdomain { passwd-dir ${dir}/passwd; }
# The key is a throwaway in a temporary folder: its permissions are not worth refusing to start over.
tls-file-checks { key-file none; cert-file none; ca-file none; }
tls { ssl-certificate-file ${certFile}; ssl-key-file ${keyFile}; }
create-home-dir true;
mailbox { mailbox-type maildir; mailbox-pattern "maildir://${dir}/mail/\${user}/INBOX"; }
namespace personal { prefix "" { directory "${dir}/mail/\${user}"; delimiter "/"; mailbox-type maildir; } }
server 127.0.0.1:${port} { tls-mode stls; }
server 127.0.0.1:${tlsPort} { tls-mode connection; }
`;
}
