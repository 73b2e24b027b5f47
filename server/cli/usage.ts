// The CLI's help text and its usage error (exit code 2).

export const USAGE = `lokario-cron: run and set up Lokario's background jobs from a terminal.

Usage: lokario-cron <command> [options]

Commands
  migrate                       Apply the database migrations (as npm start does).
  companies add NAME            Create a company; prints its id.
  companies sms ID              Set how a company's follow-ups go out by SMS; options not given are kept.
      --vonage KEY              Its own Vonage account: the API key (the API secret from stdin or --secret-env VAR)
      --smpp URL --system-id ID Its own SMPP account, smpp://HOST[:PORT] or ssmpp:// for TLS (password likewise)
      --system-type T           SMPP system type, when the operator asks for one
      --global                  Through the deployment's account (SMS_PROVIDER) again
      --sender-name NAME        Sender shown on the phone: up to 11 letters, digits or spaces
      --max-segments N          Longest text sent, in billed segments (1 to 10)
      --webhook-secret          A new secret for its Vonage account's webhooks (shown once: paste its URL in Vonage)
      --vonage-signature M      Its Vonage webhooks are signed with method M (md5hash, md5, sha1, sha256, sha512;
                                the signature secret from stdin or --signature-secret-env VAR), or "off"
  integrations add              Add an IMAP mailbox to a company (password from stdin or --password-env).
      --company ID              Company id (required)
      --email ADDR              Mailbox address, also the login unless --username (required)
      --server HOST             IMAP server host name (required)
      --port N                  IMAP port (default 993, or 143 with --no-ssl)
      --username U              Login when it differs from the address
      --no-ssl                  STARTTLS on a plain port instead of implicit TLS
      --insecure-tls            Accept a self-signed or mismatched certificate (your own server only)
      --name N                  Display name of the mailbox
      --interval MIN            Minutes between syncs (default 5)
      --initial-days N          How many days of mail the first sync imports (default 30)
      --primary                 Make it the company's sending mailbox
      --folders ROLES           Folders to sync: inbox,sent (default) or inbox (not the Sent folder)
      --password-env VAR        Read the password from environment variable VAR instead of stdin
  integrations connect          Connect a mailbox with OAuth2 (Google, Microsoft 365, an OpenID Connect provider):
      --provider P              google, microsoft or oidc (required; its CLIENT_ID/SECRET must be set)
      --company ID              Company id (required)
      --mailbox ADDRESS         A shared mailbox to connect, opened with the consenting person's account
      --via T                   Read and send through imap (IMAP and SMTP, default), graph (Microsoft Graph) or gmail-api
      --paste                   Paste the redirect URL from the browser instead of the loopback listener
      --port N                  Loopback port of the listener (default: any free one)
  integrations list             List mailboxes with their last sync status (never their passwords).
      --company ID              Only this company's mailboxes
  integrations test ID          Connect to a mailbox and report what is there (folders, INBOX count, UIDVALIDITY).
  integrations update ID        Change a mailbox's settings; options not given are kept.
      --server HOST --port N    IMAP server and port (a new server or login resets the folder cursors, said so)
      --ssl | --no-ssl          Implicit TLS, or STARTTLS (993/143 follow when the port was the standard one)
      --insecure-tls | --verify-tls   Accept a self-signed certificate, or verify it again
      --email ADDR --username U --name N --interval MIN
      --primary | --no-primary  Make it (or stop it being) the company's sending mailbox
      --folders ROLES           Folders to sync: inbox,sent or inbox
      --password-stdin          Read a new IMAP password from stdin or the prompt (or --password-env VAR)
      --smtp-server HOST --smtp-port N --smtp-ssl | --smtp-starttls --smtp-username U
      --smtp-password-stdin     Read a new SMTP password (or --smtp-password-env VAR); else the IMAP one is used
      --smtp-discover           Find the SMTP settings (provider table, autoconfig, DNS SRV) and store them
      --smtp-clear              Forget the SMTP settings (follow-ups then find them, or use the global server)
  integrations disable ID       Stop syncing a mailbox (its mail stays); enable ID turns it back on.
  integrations enable ID
  integrations remove ID        Delete a mailbox; says how much mail it imported and asks what happens to it:
      --keep-mail               Keep its conversations and messages in the inbox, detached
      --delete-mail             Delete them and their attachments (required, one or the other, without a terminal)
  sync                          Run the inbox sync once; prints the same summary JSON as the endpoint.
      --integration ID          Only this mailbox, due or not
      --until-done              Keep running until nothing is left (a first import of a large mailbox),
                                with a progress line on stderr after each run; a failed run is
                                tried again, up to 3 failed runs in a row
  followups run                 Run the automatic follow-ups once; prints the summary JSON.
      --dry-run                 Report what would be sent, to whom, with which subject; send and record nothing
  jobs run NAME                 Run any job once by its name (as status lists them); prints the summary JSON.
      --dry-run                 Only for a job that has one (followups): change nothing
  status                        Each job's last runs, failing mailboxes and since when, why follow-ups wait.
  followups uncertain           List sends interrupted after talking to SMTP (id, Message-ID, recipient).
  followups resolve ID          Settle an uncertain send once its Message-ID was looked up (SMTP log, Sent folder):
      --sent                    It went out: record it as sent, as a normal send is recorded
      --not-sent                It did not: delete the attempt; the next run sends the step with a new Message-ID
  inbox quarantine              List messages the sync set aside (reason, size, raw bytes kept or not).
      --integration ID          Only this mailbox's
  inbox reimport ID             Import a set-aside message again from its kept raw bytes (after a fix).
  inbox reset-folder ID         Let a folder stopped by repeated UIDVALIDITY changes sync again (a recent-window resync).
      --folder NAME             The folder (default INBOX)
  attachments move-to-bucket    Move the files kept in the database (stored_files) to the S3 bucket (S3_BUCKET):
                                each read back and checked before its rows change; safe to cut and run again.
      --batch-files N           Files checked per transaction (default 50)

Options for every command
  --json                        Machine-readable output (sync and followups run always print JSON)
  -h, --help                    This help

The password is never taken from the command line: pipe it in
  printf '%s' "$IMAP_PASSWORD" | lokario-cron integrations add --company 1 --email a@b.fr --server imap.b.fr
or type it at the prompt (not echoed), or name a variable with --password-env.
ENCRYPTION_KEY must be set to store it (32 bytes, base64: openssl rand -base64 32).

Database: the same settings as the server. DATABASE_URL selects PostgreSQL (node-postgres, or the
Neon driver for Neon hosts or DATABASE_DRIVER=neon); without it, the embedded PGlite database in
./.data/pglite (relative to the current directory). PGlite admits one process at a time: stop
npm start before using the CLI on the same directory (the CLI says so if you forget).

Exit codes: 0 success, 1 failure (including a run where a mailbox or a follow-up failed), 2 usage error.
`;

/** A command line that cannot be understood: the CLI exits with 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure the CLI reports in one line and exits with 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}
