// A throwaway Courier IMAP 5.0 (Debian's courier-imap, unpacked into its own prefix by
// prepare-system.sh: it conflicts with Dovecot as a package) for the interop matrix: users in a
// userdb of its own checked by courier-authlib's authdaemond, Maildirs under `INBOX.` with a `.`
// separator (a hosting panel's layout), STARTTLS on one loopback port and implicit TLS on another.
//
// Courier's configuration directory (/etc/courier: authdaemonrc, userdb.dat) and its authdaemond
// socket (/run/courier/authdaemon) are compiled in. The daemons run in a private mount namespace
// where this server's own folders are mounted over those two paths, so each server (and each test
// run on one machine) has its own configuration, users and socket and the machine's stay untouched.
// Needs root (unshare, mount); imaplogin runs couriertls as the `courier` user, as Debian does.

import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImapFlow } from "imapflow";
import { freePort, waitFor } from "./ports.js";
import { canConnect, type ImapTestServer, type ImapUser, selfSignedCertificate, stopChild } from "./imap-test-server.js";

export const COURIER_PREFIX = "/opt/lokario-test/courier";
const DOMAIN = "example.test";
/** The unprivileged account the Maildirs belong to (imaplogin switches to the uid the userdb gives). */
const NOBODY = { uid: 65534, gid: 65534 };

export async function startCourier(): Promise<ImapTestServer> {
  const dir = mkdtempSync(join(tmpdir(), "lokario-courier-"));
  chmodSync(dir, 0o755);
  for (const sub of ["etc", "run/authdaemon", "mail"]) mkdirSync(join(dir, sub), { recursive: true });
  const { certFile, keyFile, certPem } = selfSignedCertificate(dir);
  // couriertls reads one file with the key and the certificate, as the `courier` user.
  const pemFile = join(dir, "etc/imapd.pem");
  writeFileSync(pemFile, readFileSync(keyFile, "utf8") + readFileSync(certFile, "utf8"), { mode: 0o600 });
  try {
    execFileSync("chown", ["courier", pemFile], { stdio: "pipe" });
  } catch (err) {
    throw new Error(`Courier IMAP needs the courier user (tests/support/prepare-system.sh adds it): ${String(err)}`);
  }
  writeFileSync(join(dir, "etc/authdaemonrc"), 'authmodulelist="authuserdb"\ndaemons=2\nauthdaemonvar=/run/courier/authdaemon\nDEBUG_LOGIN=0\nDEFAULTOPTIONS=""\n');
  const users: Array<{ local: string; hash: string }> = [];
  writeUserdb(dir, users);
  const [port, tlsPort] = [await freePort(), await freePort()];

  const child = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", launcher(dir, port, tlsPort)], {
    stdio: ["ignore", "ignore", "pipe"],
    env: daemonEnv(),
  });
  let log = "";
  child.stderr.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  child.on("error", (err) => {
    log += String(err);
  });
  await waitFor("Courier IMAP to listen", async () => {
    if (child.exitCode !== null) throw new Error(`Courier IMAP exited (${child.exitCode}; it needs root and ${COURIER_PREFIX}): ${log}`);
    return (await canConnect(port)) && (await canConnect(tlsPort));
  });

  return {
    name: "Courier IMAP 5.0",
    port, tlsPort, certPem,
    addUser: async (): Promise<ImapUser> => {
      const local = `u${randomBytes(5).toString("hex")}`;
      const password = `pw-${randomBytes(8).toString("hex")}`;
      // The Maildir a delivery agent (or maildirmake) would have made: it is the user's INBOX.
      for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(dir, "mail", local, "Maildir", sub), { recursive: true });
      execFileSync("chown", ["-R", `${NOBODY.uid}:${NOBODY.gid}`, join(dir, "mail", local)]);
      users.push({ local, hash: execFileSync("openssl", ["passwd", "-6", password]).toString().trim() });
      writeUserdb(dir, users);
      const credentials = { user: `${local}@${DOMAIN}`, password };
      // authuserdb opens userdb.dat again when its mtime changes (one-second resolution).
      for (let attempt = 0; ; attempt++) {
        if (await canLogIn(tlsPort, certPem, credentials)) return credentials;
        if (attempt >= 20) throw new Error(`Courier IMAP: ${credentials.user} cannot log in: ${log}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    // Courier keeps a Maildir's UIDVALIDITY on the first line of its courierimapuiddb ("1 <uidvalidity>
    // <next uid>"): a new value there is what a rebuilt index looks like to a client.
    renumberInbox: async ({ user }) => {
      const uidDb = join(dir, "mail", user.split("@")[0]!, "Maildir", "courierimapuiddb");
      const content = readFileSync(uidDb, "utf8");
      const next = content.replace(/^1 (\d+) /, (_, value: string) => `1 ${Number(value) + 1000} `);
      if (next === content) throw new Error(`no UIDVALIDITY in ${uidDb}`);
      writeFileSync(uidDb, next);
    },
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The shell that owns the daemons, in its own mount namespace: this server's folders over Courier's
 * compiled-in ones (mount points made if the machine has none: empty folders), authdaemond, then one
 * couriertcpd per port as Debian's init scripts start them. On SIGTERM it stops them all (each
 * couriertcpd stops its own connections).
 */
function launcher(dir: string, port: number, tlsPort: number): string {
  const p = COURIER_PREFIX;
  const tcpd = `${p}/usr/sbin/couriertcpd -address=127.0.0.1 -maxprocs=40 -maxperip=40 -nodnslookup -noidentlookup`;
  const imaplogin = `${p}/usr/lib/courier/courier/imaplogin ${p}/usr/bin/imapd Maildir`;
  return `set -e
mkdir -p /etc/courier /run/courier
mount --bind ${dir}/etc /etc/courier
mount --bind ${dir}/run /run/courier
${p}/usr/lib/courier/courier-authlib/authdaemond & auth=$!
IMAP_STARTTLS=YES ${tcpd} ${port} ${imaplogin} & plain=$!
IMAP_TLS=1 ${tcpd} ${tlsPort} ${p}/usr/bin/couriertls -server -tcpd -user=courier ${imaplogin} & tls=$!
trap 'kill $plain $tls $auth; wait; exit 0' TERM
wait
`;
}

/** What Debian's /etc/courier/imapd and imapd-ssl export to the daemons, pointed at the prefix. */
function daemonEnv(): NodeJS.ProcessEnv {
  const capability = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE";
  return {
    PATH: process.env.PATH,
    LD_LIBRARY_PATH: join(COURIER_PREFIX, "usr/lib"),
    // authdaemond looks for its modules (libauthuserdb) in /usr/lib/courier-authlib, then here.
    LTDL_LIBRARY_PATH: join(COURIER_PREFIX, "usr/lib/courier-authlib"),
    IMAP_CAPABILITY: capability,
    IMAP_CAPABILITY_TLS: `${capability} AUTH=PLAIN`,
    IMAP_KEYWORDS: "1",
    IMAP_ACL: "1",
    IMAP_UMASK: "022",
    IMAP_USELOCKS: "1",
    IMAP_MAILBOX_SANITY_CHECK: "1",
    IMAP_TLS_REQUIRED: "0",
    COURIERTLS: join(COURIER_PREFIX, "usr/bin/couriertls"),
    TLS_CERTFILE: "/etc/courier/imapd.pem",
    TLS_VERIFYPEER: "NONE",
  };
}

/**
 * Writes userdb.dat and userdbshadow.dat as makeuserdb does (its perl script has the configuration
 * path compiled in), with a newer mtime than before so authuserdb opens them again.
 */
function writeUserdb(dir: string, users: Array<{ local: string; hash: string }>): void {
  const makedat = join(COURIER_PREFIX, "usr/lib/courier/courier-authlib/makedatprog");
  const env = { ...process.env, LD_LIBRARY_PATH: join(COURIER_PREFIX, "usr/lib") };
  const files = [
    { name: "userdb", line: (u: { local: string }) => `uid=${NOBODY.uid}|gid=${NOBODY.gid}|home=${join(dir, "mail", u.local)}` },
    { name: "userdbshadow", line: (u: { hash: string }) => `systempw=${u.hash}` },
  ];
  for (const { name, line } of files) {
    const datFile = join(dir, "etc", `${name}.dat`);
    let previous = 0;
    try {
      previous = statSync(datFile).mtimeMs;
    } catch {
      // The first write.
    }
    const input = users.map((u) => `${u.local}@${DOMAIN}\t${line(u)}\n`).join("") + ".\n";
    execFileSync(makedat, ["-", join(dir, "etc", `${name}.tmp`), datFile], { input, env, stdio: ["pipe", "ignore", "pipe"] });
    chmodSync(datFile, 0o600);
    const next = new Date(Math.max(Date.now(), Math.floor(previous / 1000) * 1000 + 1000));
    utimesSync(datFile, next, next);
  }
}

async function canLogIn(port: number, certPem: string, credentials: ImapUser): Promise<boolean> {
  const client = new ImapFlow({
    host: "127.0.0.1", port, secure: true, tls: { ca: certPem, servername: "localhost" },
    auth: { user: credentials.user, pass: credentials.password }, logger: false, disableAutoIdle: true,
  });
  try {
    await client.connect();
    await client.logout();
    return true;
  } catch {
    client.close();
    return false;
  }
}
