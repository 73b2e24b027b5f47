// A throwaway Cyrus IMAP 3.6 (Debian's cyrus-imapd, unpacked into its own prefix by
// prepare-system.sh: it conflicts with Dovecot as a package) for the interop matrix: users in a
// sasldb of its own, their mailboxes created by an admin over IMAP, STARTTLS on one loopback port and
// implicit TLS on another. master starts as root and runs the services as the `mail` user.

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import tls from "node:tls";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import { freePort, waitFor } from "./ports.js";
import { canConnect, type ImapTestServer, type ImapUser, selfSignedCertificate, stopChild } from "./imap-test-server.js";

export const CYRUS_PREFIX = "/opt/lokario-test/cyrus";
const BIN = join(CYRUS_PREFIX, "usr/lib/cyrus/bin");
const ADMIN = { user: "cyradmin", password: `admin-${randomBytes(8).toString("hex")}` };

export async function startCyrus(): Promise<ImapTestServer> {
  const dir = mkdtempSync(join(tmpdir(), "lokario-cyrus-"));
  for (const sub of ["conf", "spool", "sieve", "run"]) mkdirSync(join(dir, sub));
  const { certFile, keyFile, certPem } = selfSignedCertificate(dir);
  const [port, tlsPort] = [await freePort(), await freePort()];
  const sasldb = join(dir, "sasldb2");
  writeFileSync(join(dir, "imapd.conf"), imapdConfig(dir, sasldb, certFile, keyFile));
  writeFileSync(join(dir, "cyrus.conf"), cyrusConfig(dir, port, tlsPort));
  const addSaslUser = (user: string, password: string) =>
    execFileSync("saslpasswd2", ["-f", sasldb, "-p", "-c", user], { input: password, stdio: ["pipe", "ignore", "pipe"] });
  addSaslUser(ADMIN.user, ADMIN.password);
  execFileSync("chown", ["-R", "mail:mail", dir]);
  const child = spawn(join(BIN, "master"), ["-C", join(dir, "imapd.conf"), "-M", join(dir, "cyrus.conf"), "-p", join(dir, "run/master.pid"), "-D"], {
    stdio: "ignore",
    env: { ...process.env, LD_LIBRARY_PATH: join(CYRUS_PREFIX, "usr/lib/x86_64-linux-gnu") },
  });
  await waitFor("Cyrus to listen", async () => {
    // Cyrus logs only to syslog: an early exit is all a test can see (exit 78 is a configuration error).
    if (child.exitCode !== null) throw new Error(`cyrus master exited (${child.exitCode}): see ${dir}`);
    return (await canConnect(port)) && (await canConnect(tlsPort));
  });
  const session = async (login: ImapUser, fn: (client: ImapFlow) => Promise<void>) => {
    const client = new ImapFlow({
      host: "127.0.0.1", port: tlsPort, secure: true, tls: { ca: certPem, servername: "localhost" },
      auth: { user: login.user, pass: login.password }, logger: false, disableAutoIdle: true,
    });
    await client.connect();
    try {
      await fn(client);
    } finally {
      await client.logout().catch(() => client.close());
    }
  };

  return {
    name: "Cyrus IMAP 3.6",
    port, tlsPort, certPem,
    addUser: async (): Promise<ImapUser> => {
      const user = `u${randomBytes(5).toString("hex")}`;
      const password = `pw-${randomBytes(8).toString("hex")}`;
      addSaslUser(user, password);
      // Cyrus has no mailbox until an admin creates it (`cyradm cm user/<name>`).
      await adminCommands(tlsPort, certPem, [`CREATE user/${user}`]);
      return { user, password };
    },
    // Cyrus gives no tool to set a UIDVALIDITY, and a user may not RENAME INBOX: the account is
    // restored instead (deleted, created again, its messages put back), as an admin restoring a backup
    // does; the new INBOX has a new UIDVALIDITY and new UIDs.
    renumberInbox: async (user) => {
      const sources: Buffer[] = [];
      await session(user, async (client) => {
        const lock = await client.getMailboxLock("INBOX", { readOnly: true });
        try {
          for await (const message of client.fetch("1:*", { source: true })) if (message.source) sources.push(message.source);
        } finally {
          lock.release();
        }
      });
      await adminCommands(tlsPort, certPem, [`SETACL user/${user.user} ${ADMIN.user} x`, `DELETE user/${user.user}`, `CREATE user/${user.user}`]);
      await session(user, async (client) => {
        for (const source of sources) await client.append("INBOX", source);
      });
    },
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function imapdConfig(dir: string, sasldb: string, certFile: string, keyFile: string): string {
  return `configdirectory: ${dir}/conf
partition-default: ${dir}/spool
sievedir: ${dir}/sieve
cyrus_user: mail
cyrus_group: mail
admins: ${ADMIN.user}
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: ${sasldb}
sasl_mech_list: PLAIN LOGIN
allowplaintext: yes
tls_server_cert: ${certFile}
tls_server_key: ${keyFile}
# "/" between folders and no "INBOX." in front of them, as Cyrus's own default namespace shows them.
unixhierarchysep: yes
syslog_prefix: lokario-cyrus
`;
}

function cyrusConfig(dir: string, port: number, tlsPort: number): string {
  // Full paths: master looks for its services in Debian's /usr/lib/cyrus/bin, not in the prefix.
  const imapd = `${BIN}/imapd -C ${dir}/imapd.conf`;
  return `START {
}
SERVICES {
  imap cmd="${imapd}" listen="127.0.0.1:${port}" prefork=1
  imaps cmd="${imapd} -s" listen="127.0.0.1:${tlsPort}" prefork=1
}
EVENTS {
}
`;
}

/**
 * Runs admin commands (cyradm's, which imapflow has no call for: SETACL) in one session, each of
 * which must answer OK. Hand-written: a few fixed commands without literals need no IMAP parser.
 */
function adminCommands(tlsPort: number, certPem: string, commands: string[]): Promise<void> {
  const tagged = [`LOGIN ${ADMIN.user} ${ADMIN.password}`, ...commands, "LOGOUT"].map((command, i) => ({ tag: `t${i}`, command }));
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port: tlsPort, ca: certPem, servername: "localhost" }, () => {
      socket.write(tagged.map((t) => `${t.tag} ${t.command}\r\n`).join(""));
    });
    let received = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
      const last = tagged[tagged.length - 1]!;
      if (!new RegExp(`^${last.tag} `, "m").test(received)) return;
      socket.end();
      const refused = tagged.find((t) => !new RegExp(`^${t.tag} OK`, "m").test(received));
      if (refused) reject(new Error(`Cyrus refused ${refused.command.split(" ")[0]}: ${received}`));
      else resolve();
    });
    socket.on("error", reject);
  });
}
