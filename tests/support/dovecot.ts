// A throwaway Dovecot IMAP server for the test run (a drop-in config known to work with Dovecot 2.3):
// STARTTLS on one loopback port, implicit TLS on another, users in a passwd-file that tests append to.

import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:net";
import { freePort, waitFor } from "./ports.js";

export interface DovecotInfo {
  dir: string;
  /** Plain IMAP with STARTTLS offered. */
  port: number;
  /** Implicit TLS (IMAPS). */
  tlsPort: number;
  /** The self-signed certificate the server presents (PEM), for tests that trust it explicitly. */
  certPem: string;
}

export interface DovecotServer extends DovecotInfo {
  stop(): Promise<void>;
}

/** The authorization server whose introspection endpoint decides OAuth2 logins (RFC 7662). */
export interface TokenIntrospection {
  issuer: string;
  clientId: string;
  clientSecret: string;
}

/** Limits a test may put on the server's sessions (each default is far above what any test opens). */
export interface DovecotLimits {
  /** `mail_max_userip_connections`: sessions of one login from one address (default 50). */
  maxUserIpConnections?: number;
  /** `process_limit` of the imap service: logged-in sessions at once, all users together (default 500). */
  imapProcessLimit?: number;
  /** `process_limit` of the imap-login service: connections not yet logged in (default 500). */
  imapLoginProcessLimit?: number;
}

/**
 * A provider's folder layout, for a Dovecot of its own: "gmail" (`[Gmail]/…` French names, with
 * special-use flags, `/` separator), "outlook" (`/` separator, no special-use flag at all),
 * "hosting-panel" (every folder under `INBOX.`, `.` separator, no flag), as Courier and cPanel show.
 */
export type DovecotLayout = "gmail" | "outlook" | "hosting-panel";

export interface DovecotOptions extends DovecotLimits {
  /** The folder layout (default: the run's own, where `Sent` and `Outgoing` carry `\Sent`). */
  layout?: DovecotLayout;
}

/** Starts Dovecot with a fresh config in a temporary folder. */
export async function startDovecot(introspection?: TokenIntrospection, options: DovecotOptions = {}): Promise<DovecotServer> {
  const dir = mkdtempSync(join(tmpdir(), "lokario-dovecot-"));
  chmodSync(dir, 0o755);
  for (const sub of ["run", "state", "mail"]) mkdirSync(join(dir, sub));
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    "-days", "30", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ], { stdio: "pipe" });
  writeFileSync(join(dir, "users"), "");
  execFileSync("chown", ["-R", "nobody:nogroup", join(dir, "mail")]);
  if (introspection) {
    writeFileSync(join(dir, "oauth2.conf.ext"), oauth2Config(introspection, "sub"));
    writeFileSync(join(dir, "oauth2-shared.conf.ext"), oauth2Config(introspection, "shared_mailbox"));
  }
  // A free port can be taken by another process between the check and Dovecot's listen (another
  // test run on the machine): Dovecot then exits at once, and is started again on new ports.
  let port = 0;
  let tlsPort = 0;
  for (let attempt = 1; ; attempt++) {
    [port, tlsPort] = [await freePort(), await freePort()];
    writeFileSync(join(dir, "dovecot.conf"), config(dir, port, tlsPort, introspection !== undefined, options));
    // Dovecot daemonizes: its stdio must not be pipes, or waiting for it would wait for the daemon.
    const started = spawnSync("dovecot", ["-c", join(dir, "dovecot.conf")], { stdio: "ignore", timeout: 20_000 });
    if (started.status === 0) break;
    if (attempt === 3) throw new Error(`dovecot did not start (exit ${started.status}): see ${dir}/dovecot.log`);
  }
  await waitFor("Dovecot to listen", () => canConnect(port));
  await waitFor("Dovecot to listen (TLS)", () => canConnect(tlsPort));
  const certPem = execFileSync("cat", [join(dir, "cert.pem")]).toString();
  return {
    dir, port, tlsPort, certPem,
    stop: async () => {
      spawnSync("doveadm", ["-c", join(dir, "dovecot.conf"), "stop"], { stdio: "ignore", timeout: 20_000 });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on("error", () => resolve(false));
  });
}

/**
 * Dovecot 2.3's oauth2 passdb: each XOAUTH2 token is POSTed to the introspection endpoint, and the
 * login is accepted when the answer is active and its \`sub\` (the account id) is the login name.
 * The second one (`shared_mailbox`) accepts a token whose account was given access to the login's
 * mailbox: Microsoft 365's shared mailboxes, opened with the XOAUTH2 user set to the shared address.
 */
function oauth2Config(introspection: TokenIntrospection, usernameAttribute: "sub" | "shared_mailbox"): string {
  return `
introspection_mode = post
introspection_url = ${introspection.issuer}/token/introspection
client_id = ${introspection.clientId}
client_secret = ${introspection.clientSecret}
username_attribute = ${usernameAttribute}
active_attribute = active
active_value = true
`;
}

/** The namespace of a provider's layout (Dovecot creates none of these folders: the tests do, as a mail program does). */
function layoutNamespace(layout: DovecotLayout): string {
  switch (layout) {
    case "gmail":
      // Gmail's French folders; \All holds a copy of every message, Spam what its filter set aside.
      return `namespace inbox {
  inbox = yes
  separator = /
  mailbox "[Gmail]/Messages envoyés" {
    special_use = \\Sent
  }
  mailbox "[Gmail]/Tous les messages" {
    special_use = \\All
  }
  mailbox "[Gmail]/Spam" {
    special_use = \\Junk
  }
}`;
    case "outlook":
      return `namespace inbox {
  inbox = yes
  separator = /
}`;
    case "hosting-panel":
      return `namespace inbox {
  inbox = yes
  prefix = INBOX.
  separator = .
}`;
  }
}

function config(dir: string, port: number, tlsPort: number, hasOAuth2: boolean, options: DovecotOptions): string {
  const { layout, ...limits } = options;
  const oauth2Passdb = hasOAuth2
    ? ["oauth2", "oauth2-shared"].map((name) => `passdb {\n  driver = oauth2\n  mechanisms = xoauth2\n  args = ${dir}/${name}.conf.ext\n}`).join("\n")
    : "";
  return `
base_dir = ${dir}/run
state_dir = ${dir}/state
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <${dir}/cert.pem
ssl_key = <${dir}/key.pem
disable_plaintext_auth = no
# XOAUTH2 only (no OAUTHBEARER), so an OAuth2 login here is the SASL mechanism Gmail and Outlook use.
auth_mechanisms = plain login${hasOAuth2 ? " xoauth2" : ""}
log_path = ${dir}/dovecot.log
mail_location = maildir:${dir}/mail/%u
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 0
default_process_limit = 500
default_client_limit = 2000
mail_max_userip_connections = ${limits.maxUserIpConnections ?? 50}
# Tests check that failures are told apart; they should not wait for Dovecot's anti-brute-force delay.
auth_failure_delay = 0
# The Sent folder as servers announce it (RFC 6154 special-use), only for mailboxes that create one,
# so a test mailbox has no Sent folder unless it makes one. "Outgoing" is a Sent folder no mail
# program's usual name would find; "Sent Items" has no attribute: it can only be found by its name.
${layout ? layoutNamespace(layout) : `namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Outgoing {
    special_use = \\Sent
  }
}`}
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u ${dir}/users
}
${oauth2Passdb}
# allow_all_users: doveadm's user lookups (tests reading the server's side) must not go through a
# passdb; the mechanism-bound ones (passwords, XOAUTH2 tokens) cannot answer them.
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=${dir}/mail/%u allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    port = ${port}
  }
  inet_listener imaps {
    port = ${tlsPort}
  }
  process_min_avail = 2
  process_limit = ${limits.imapLoginProcessLimit ?? 500}
}
service imap {
  process_limit = ${limits.imapProcessLimit ?? 500}
}
# Every test connects from 127.0.0.1: without this, one wrong-password test delays every later login
# of the run by 2 s, doubling up to 15 s (Dovecot's per-IP auth penalty, tracked by anvil).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
`;
}
