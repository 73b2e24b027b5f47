// Benchmark of a first import against the network's speed, side by side in one run on the same
// Dovecot mailbox: (1) the raw-fetch floor, imapflow downloading every message and dropping it;
// (2) `mbsync` copying the folder to a Maildir; (3) the product's first import into PostgreSQL with
// attachments in a local directory, run in a child process (bundled, as deployed) whose peak RSS
// (VmHWM) is its memory figure.
// Size: BENCH_IMPORT_MESSAGES (default 3000: mostly small text mails, one in 24 with a 0.5–4.5 MB
// attachment, about 440 MB in all). The three run BENCH_IMPORT_ROUNDS times in turn (default 3):
// figures and ratios are the medians over the rounds (a virtual machine's neighbours move a single
// run by ±15%), the peak RSS the highest. The product's process starts with MALLOC_ARENA_MAX=2, as
// `npm start` and the deployments in docs/deploying.md do (`MALLOC_ARENA_MAX= npm run bench` for glibc's
// default). BENCH_IMPORT_DB_RTT_MS (default 0) puts the product's PostgreSQL that many milliseconds
// of round trip away (a proxy), as a hosted database is.

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ImapFlow } from "imapflow";
import pg from "pg";
import { loadConfig } from "../lib/config.js";
import { encryptSecret } from "../lib/crypto/secret-box.js";
import { openDb } from "../lib/db/client.js";
import { migrateDb } from "../lib/db/migrate.js";
import { companies, inboxIntegrations } from "../lib/db/schema.js";
import type { DovecotServer } from "../tests/support/dovecot.js";
import { startFaultProxy } from "../tests/support/fault-proxy.js";
import type { PostgresServer } from "../tests/support/postgres.js";
import { type S3Server, startS3Server, TEST_S3_ACCESS_KEY_ID, TEST_S3_REGION, TEST_S3_SECRET_ACCESS_KEY } from "../tests/support/s3-server.js";
import { median } from "./median.js";
import type { Figure } from "./figure.js";

const MESSAGES = Number(process.env.BENCH_IMPORT_MESSAGES ?? 3000);
const ROUNDS = Math.max(1, Number(process.env.BENCH_IMPORT_ROUNDS ?? 3));
const DB_RTT_MS = Number(process.env.BENCH_IMPORT_DB_RTT_MS ?? 0);
// Other mailboxes and stores: one message in BENCH_IMPORT_ATTACHMENT_EVERY (default 24) carries an
// attachment of BENCH_IMPORT_ATTACHMENT_MB (default: 0.5 to 4.5 MB); BENCH_IMPORT_STORAGE=database
// keeps attachments in the database, as on Vercel and Netlify without a bucket, and
// BENCH_IMPORT_STORAGE=s3 in a bucket of a local S3-API server (s3rver, in the bench's own process,
// so that its memory is not the import's); default: a local directory.
const ATTACHMENT_EVERY = Math.max(1, Number(process.env.BENCH_IMPORT_ATTACHMENT_EVERY ?? 24));
const ATTACHMENT_MB = Number(process.env.BENCH_IMPORT_ATTACHMENT_MB ?? 0);
const STORAGE = (["database", "s3"] as const).find((s) => s === process.env.BENCH_IMPORT_STORAGE) ?? "local";
const STORAGE_LABEL = { local: "a directory", database: "the database", s3: "an S3 bucket (s3rver)" }[STORAGE];
/** glibc's arena cap for the product's process (docs/deploying.md, "Memory"); empty: glibc's default. */
const MALLOC_ARENA_MAX = process.env.MALLOC_ARENA_MAX ?? "2";
const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString("base64");
const CHILD = fileURLToPath(new URL("./first-import-child.ts", import.meta.url));
const USER = "import@example.test";
const PASSWORD = "import-password";

/** What the child process reports on its last stdout line. */
export interface ChildReport {
  ms: number;
  runs: number;
  imported: number;
  peakRssBytes: number;
  mallocArenaMax: number | null;
}

/** Runs the three imports of one mailbox and returns their figures (durations, ratios, peak RSS). */
export async function benchFirstImport(dovecot: DovecotServer, postgres: PostgresServer): Promise<Figure[]> {
  const mbsync = spawnSync("mbsync", ["--version"], { encoding: "utf8" });
  if (mbsync.error) throw new Error("mbsync is missing: install it with `apt-get install isync` (Debian/Ubuntu), then run the bench again");
  const bytes = deliverMailbox(dovecot);
  const label = `${MESSAGES} messages / ${Math.round(bytes / 1e6)} MB`;
  console.error(`first import: mailbox of ${label}; ${machine()}; ${mbsync.stdout.trim()}; ` +
    `product with MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX || "(glibc default)"}, attachments in ${STORAGE_LABEL}` +
    `${DB_RTT_MS > 0 ? `, PostgreSQL ${DB_RTT_MS} ms away` : ""}`);

  const s3 = STORAGE === "s3" ? await startS3Server() : null;
  const rounds: { rawMs: number; mbsyncMs: number; product: ChildReport }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const rawMs = await rawFetch(dovecot);
    const mbsyncMs = runMbsync(dovecot);
    const product = await productImport(dovecot, postgres, round, s3);
    if (product.imported !== MESSAGES) throw new Error(`first import stored ${product.imported} of ${MESSAGES} messages`);
    console.error(
      `first import, round ${round}/${ROUNDS}: raw fetch ${(rawMs / 1000).toFixed(1)} s, mbsync ${(mbsyncMs / 1000).toFixed(1)} s, ` +
        `product ${(product.ms / 1000).toFixed(1)} s in ${product.runs} run(s) (${(product.ms / rawMs).toFixed(2)}× / ${(product.ms / mbsyncMs).toFixed(2)}×), ` +
        `peak RSS ${(product.peakRssBytes / 1e6).toFixed(0)} MB (started with MALLOC_ARENA_MAX ${product.mallocArenaMax ?? "unset"})`,
    );
    rounds.push({ rawMs, mbsyncMs, product });
  }
  await s3?.stop();
  const medianOf = (pick: (r: (typeof rounds)[number]) => number) => median(rounds.map(pick));
  // The names stay those of bench/baseline.json (one round then): medians over rounds, highest peak.
  return [
    { name: `first import, ${label} (${machine()})`, value: medianOf((r) => r.product.ms) / 1000, unit: "s", isHigherBetter: false },
    { name: `  raw fetch floor (imapflow, sources dropped)`, value: medianOf((r) => r.rawMs) / 1000, unit: "s", isHigherBetter: false },
    { name: `  mbsync to a Maildir`, value: medianOf((r) => r.mbsyncMs) / 1000, unit: "s", isHigherBetter: false },
    { name: `  first import ÷ raw fetch floor (target ≤ 1.5)`, value: medianOf((r) => r.product.ms / r.rawMs), unit: "×", isHigherBetter: false },
    { name: `  first import ÷ mbsync (target ≤ 1.5)`, value: medianOf((r) => r.product.ms / r.mbsyncMs), unit: "×", isHigherBetter: false },
    { name: `  peak RSS of the first import (target ≤ 200)`, value: Math.max(...rounds.map((r) => r.product.peakRssBytes)) / 1e6, unit: "MB", isHigherBetter: false },
  ];
}

/** The machine, in a few words, for the table: the figures mean little without it. */
export function machine(): string {
  const cpu = cpus();
  return `${cpu.length}× ${cpu[0]?.model.replace(/\s+/g, " ").trim() ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}`;
}

/** Writes the mailbox straight into the Maildir, as a mail server delivers. Returns its size in bytes. */
function deliverMailbox(dovecot: DovecotServer): number {
  appendFileSync(join(dovecot.dir, "users"), `${USER}:{PLAIN}${PASSWORD}\n`);
  const maildir = join(dovecot.dir, "mail", USER);
  for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
  let bytes = 0;
  for (let i = 0; i < MESSAGES; i++) {
    const mail = importMail(i);
    bytes += mail.length;
    writeFileSync(join(maildir, "new", `${1_700_000_000 + i}.i${i}.bench`), mail);
  }
  execFileSync("chown", ["-R", "nobody:nogroup", maildir]);
  return bytes;
}

/** A client mail: a few KB of text, one in 24 with an attachment of 0.5 to 4.5 MB (random bytes: a scan, a photo), unless told otherwise. */
function importMail(i: number): Buffer {
  const date = new Date(Date.UTC(2026, 0, 1) + i * 60_000).toUTCString().replace("GMT", "+0000");
  const text = `Bonjour,\r\n\r\nSuite à notre échange, voici ma demande numéro ${i}.\r\n${"Merci de revenir vers moi rapidement. ".repeat(40 + (i % 80))}\r\n\r\nCordialement,\r\nClient ${i % 211}\r\n`;
  const head = [
    `From: Client ${i % 211} <client${i % 211}@example.test>`, `To: ${USER}`,
    // Every third mail answers the previous one of its correspondent: conversations of several messages.
    `Subject: ${i % 3 === 0 ? "" : "Re: "}Demande de devis ${i % 211}`,
    `Date: ${date}`, `Message-ID: <import-${i}@example.test>`, "MIME-Version: 1.0",
  ];
  if (i % ATTACHMENT_EVERY !== 5 % ATTACHMENT_EVERY) return Buffer.from(`${head.join("\r\n")}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}`);
  const size = ATTACHMENT_MB > 0 ? Math.round(ATTACHMENT_MB * 1e6) : Math.round((0.5 + (Math.floor(i / 24) % 10) * 0.448) * 1e6);
  const attachment = randomBytes(size).toString("base64").replace(/.{76}/g, "$&\r\n");
  return Buffer.from(
    `${head.join("\r\n")}\r\nContent-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n--b${i}\r\nContent-Type: image/jpeg; name="scan-${i}.jpg"\r\n` +
      `Content-Disposition: attachment; filename="scan-${i}.jpg"\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n--b${i}--\r\n`,
  );
}

/** The floor: every message's source downloaded in one FETCH over STARTTLS, as the product connects, and dropped. */
async function rawFetch(dovecot: DovecotServer): Promise<number> {
  const started = performance.now();
  const client = new ImapFlow({
    host: "127.0.0.1", port: dovecot.port, secure: false, doSTARTTLS: true, tls: { rejectUnauthorized: false },
    auth: { user: USER, pass: PASSWORD }, logger: false, disableAutoIdle: true,
  });
  await client.connect();
  await client.mailboxOpen("INBOX", { readOnly: true });
  let count = 0;
  for await (const message of client.fetch("1:*", { uid: true, source: true }, { uid: true })) if (message.source) count++;
  await client.logout();
  if (count !== MESSAGES) throw new Error(`raw fetch read ${count} of ${MESSAGES} messages`);
  return performance.now() - started;
}

/** mbsync pulling the folder into a throwaway Maildir, over STARTTLS with the test certificate. */
function runMbsync(dovecot: DovecotServer): number {
  const dir = mkdtempSync(join(tmpdir(), "lokario-mbsync-"));
  try {
    const rc = join(dir, "mbsyncrc");
    // FSync off: the product's side does not sync its files or its database (the bench's PostgreSQL
    // runs with fsync=off) either; with it, mbsync measures the disk rather than the download.
    writeFileSync(rc, [
      "FSync no", "",
      "IMAPAccount bench", "Host localhost", `Port ${dovecot.port}`, `User ${USER}`, `Pass ${PASSWORD}`,
      "SSLType STARTTLS", `CertificateFile ${join(dovecot.dir, "cert.pem")}`, "",
      "IMAPStore remote", "Account bench", "",
      "MaildirStore local", `Path ${dir}/mail/`, `Inbox ${dir}/mail/INBOX`, "",
      "Channel bench", "Far :remote:", "Near :local:", "Patterns INBOX", "Create Near", "Sync Pull", `SyncState ${dir}/state/`, "",
    ].join("\n"));
    for (const sub of ["state", "mail"]) mkdirSync(join(dir, sub));
    const started = performance.now();
    const result = spawnSync("mbsync", ["-c", rc, "-a"], { encoding: "utf8" });
    const ms = performance.now() - started;
    if (result.status !== 0) throw new Error(`mbsync failed (exit ${result.status}): ${result.stderr.slice(0, 500)}`);
    const copied = Number(execFileSync("sh", ["-c", `ls ${dir}/mail/INBOX/cur ${dir}/mail/INBOX/new | grep -c ,`], { encoding: "utf8" }).trim());
    if (copied !== MESSAGES) throw new Error(`mbsync copied ${copied} of ${MESSAGES} messages`);
    return ms;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The product's first import, in a child process of its own so that its peak RSS is its own. */
async function productImport(dovecot: DovecotServer, postgres: PostgresServer, round: number, s3: S3Server | null): Promise<ChildReport> {
  const database = `bench_import_${round}`;
  const admin = new pg.Client({ connectionString: postgres.url("postgres") });
  await admin.connect();
  await admin.query(`create database ${database}`);
  await admin.end();
  const url = postgres.url(database);
  const open = await openDb(loadConfig({ DATABASE_URL: url, ENCRYPTION_KEY }).database);
  await migrateDb(open.db);
  const [company] = await open.db.insert(companies).values({ name: "Import bench" }).returning();
  await open.db.insert(inboxIntegrations).values({
    companyId: company!.id, name: "import", imapServer: "127.0.0.1", imapPort: dovecot.port, useSsl: false,
    tlsRejectUnauthorized: false, emailAddress: USER, emailPassword: encryptSecret(PASSWORD, { encryptionKey: ENCRYPTION_KEY }),
    initialSyncDays: 36500, initialSyncMaxMessages: MESSAGES,
  });
  await open.close();
  // Each round writes into an empty folder, as the first round does.
  const attachmentsDir = join(dovecot.dir, "import-attachments");
  rmSync(attachmentsDir, { recursive: true, force: true });
  const distant = DB_RTT_MS > 0 ? await startFaultProxy(postgres.port, { latencyMs: DB_RTT_MS }) : null;
  const env = {
    ...process.env,
    DATABASE_URL: distant ? url.replace(`:${postgres.port}/`, `:${distant.port}/`) : url, ENCRYPTION_KEY, LOG_LEVEL: "silent", RUN_BUDGET_MS: "900000",
    MALLOC_ARENA_MAX,
    ATTACHMENTS_STORAGE: STORAGE, ATTACHMENTS_DIR: attachmentsDir, ALLOW_PRIVATE_MAIL_HOSTS: "true",
    ...(s3 ? bucketEnv(s3, `bench-import-${round}`) : {}),
  };
  const entry = process.env.BENCH_IMPORT_RUNTIME === "tsx" ? ["--import", "tsx", CHILD] : [await bundleChild()];
  const output = await new Promise<string>((resolve, reject) => {
    // BENCH_IMPORT_NODE_ARGS: extra Node flags for the import's process (`--cpu-prof` to profile it).
    const nodeArgs = (process.env.BENCH_IMPORT_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, ...entry], { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`first import child exited with ${code}`))));
  }).finally(() => distant?.close());
  return JSON.parse(output.trim().split("\n").pop()!) as ChildReport;
}

/** A fresh bucket on the bench's S3 server (a directory of s3rver's), and the variables naming it. */
function bucketEnv(s3: S3Server, bucket: string): Record<string, string> {
  mkdirSync(join(s3.directory, bucket));
  return {
    S3_BUCKET: bucket, S3_REGION: TEST_S3_REGION, S3_ENDPOINT: `http://127.0.0.1:${s3.port}`, S3_FORCE_PATH_STYLE: "true",
    S3_ACCESS_KEY_ID: TEST_S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY: TEST_S3_SECRET_ACCESS_KEY,
  };
}

/**
 * The child as the serverless deployments run the product: bundled by esbuild (Netlify's
 * `node_bundler`, Vercel's builder do the same), then run by plain Node. Under tsx (what `npm start`
 * and the CLI used before scripts/build.js; `BENCH_IMPORT_RUNTIME=tsx` measures that) the process also holds tsx's loader
 * thread and every module's compiled source and source map: about 70 MB more before any mail.
 */
async function bundleChild(): Promise<string> {
  const { build } = await import("esbuild");
  // Inside the repository, so that the bundle's imports of packages resolve to node_modules.
  const outfile = fileURLToPath(new URL("./.build/first-import-child.mjs", import.meta.url));
  // For the Node that runs the bench, as a platform's bundler targets the runtime it deploys to.
  const target = `node${process.versions.node.split(".")[0]}`;
  await build({ entryPoints: [CHILD], outfile, bundle: true, packages: "external", platform: "node", format: "esm", target, logLevel: "warning" });
  return outfile;
}
