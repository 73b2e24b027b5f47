// Benchmarks of the two jobs on real peers (Dovecot, PostgreSQL, an SMTP server), printed beside a
// baseline run: `npm run bench` compares with bench/baseline.json; `npm run bench -- --save-baseline`
// records the current figures as the new baseline. Sizes: BENCH_MESSAGES (default 2000),
// BENCH_MAILBOXES (the fleet, default 500). `-- --only=mailbox|fleet|fleet-one-host|import|graph-push|gmail-push` runs one part.
// Every process it starts runs on the Node that runs it: `npm exec --package=node@26 -- npm run bench`
// measures Node 26.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem, type as osType, release } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { eq } from "drizzle-orm";
import pg from "pg";
import { loadConfig } from "../lib/config.js";
import { encryptSecret } from "../lib/crypto/secret-box.js";
import { openDb } from "../lib/db/client.js";
import { migrateDb } from "../lib/db/migrate.js";
import { companies, inboxIntegrations, inboxMessages } from "../lib/db/schema.js";
import { syncAllJob } from "../lib/inbox/sync-all.js";
import { runJob } from "../lib/jobs/run-job.js";
import { createLogger } from "../lib/log.js";
import { startDovecot } from "../tests/support/dovecot.js";
import { startPostgres } from "../tests/support/postgres.js";
import type { Figure } from "./figure.js";
import { benchFirstImport } from "./first-import.js";
import { benchGmailPush } from "./gmail-push.js";
import { benchGraphPush } from "./graph-push.js";
import { median } from "./median.js";
import { benchFleet } from "./fleet.js";
import { benchOneHostFleet } from "./fleet-one-host.js";
import { benchFollowups } from "./followups.js";

const BASELINE_FILE = fileURLToPath(new URL("./baseline.json", import.meta.url));
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 2000);
const ENCRYPTION_KEY = Buffer.alloc(32, 5).toString("base64");

async function main(): Promise<void> {
  const shouldSave = process.argv.includes("--save-baseline");
  const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  const dovecot = await startDovecot();
  const postgres = await startPostgres();
  const figures: Figure[] = [];
  try {
    const admin = new pg.Client({ connectionString: postgres.url("postgres") });
    await admin.connect();
    await admin.query("create database bench");
    await admin.end();
    const env = {
      DATABASE_URL: postgres.url("bench"), ENCRYPTION_KEY, LOG_LEVEL: "silent", RUN_BUDGET_MS: "25000",
      ATTACHMENTS_DIR: join(dovecot.dir, "attachments"),
      // The bench's Dovecot listens on loopback, on a free port.
      ALLOW_PRIVATE_MAIL_HOSTS: "true",
    };
    if (only === undefined || only === "mailbox") figures.push(...(await benchMailbox(dovecot, env)), ...(await benchFollowups(postgres)));
    if (only === undefined || only === "fleet") figures.push(...(await benchFleet(dovecot, postgres, benchMail)));
    if (only === undefined || only === "fleet-one-host") figures.push(...(await benchOneHostFleet(dovecot, postgres, benchMail)));
    if (only === undefined || only === "import") figures.push(...(await benchFirstImport(dovecot, postgres)));
    if (only === undefined || only === "graph-push") figures.push(...(await benchGraphPush(postgres)));
    if (only === undefined || only === "gmail-push") figures.push(...(await benchGmailPush(postgres)));
  } finally {
    await dovecot.stop();
    await postgres.stop();
  }
  report(figures, shouldSave);
}

/** One mailbox of MESSAGES mails: first import, a run with nothing new, a run with one new mail. */
async function benchMailbox(dovecot: Awaited<ReturnType<typeof startDovecot>>, env: Record<string, string>): Promise<Figure[]> {
  const figures: Figure[] = [];
  const config = loadConfig(env);
  const open = await openDb(config.database);
  await migrateDb(open.db);
  const log = createLogger("bench", { level: "silent" });

  // A mailbox of MESSAGES mails, delivered straight into the maildir as a mail server would.
  const user = "bench@example.test";
  const password = "bench-password";
  appendFileSync(join(dovecot.dir, "users"), `${user}:{PLAIN}${password}\n`);
  const maildir = join(dovecot.dir, "mail", user);
  for (const sub of ["new", "cur", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
  for (let i = 0; i < MESSAGES; i++) writeFileSync(join(maildir, "new", `${1_700_000_000 + i}.b${i}.bench`), benchMail(i));
  execFileSync("chown", ["-R", "nobody:nogroup", join(dovecot.dir, "mail")]);

  const [company] = await open.db.insert(companies).values({ name: "Bench" }).returning();
  const [integration] = await open.db
    .insert(inboxIntegrations)
    .values({
      companyId: company!.id, name: "bench", imapServer: "127.0.0.1", imapPort: dovecot.port, useSsl: false,
      tlsRejectUnauthorized: false, emailAddress: user, emailPassword: encryptSecret(password, { encryptionKey: ENCRYPTION_KEY }),
      initialSyncDays: 36500, initialSyncMaxMessages: MESSAGES,
    })
    .returning();
  const makeDue = () => open.db.update(inboxIntegrations).set({ nextSyncAt: null }).where(eq(inboxIntegrations.id, integration!.id));
  const sync = () => runJob(syncAllJob, {}, { config, log, trigger: "cli" });

  let started = performance.now();
  let runs = 0;
  for (;;) {
    runs++;
    const summary = await sync();
    if (!summary.remaining) break;
    await makeDue();
  }
  const firstImportMs = performance.now() - started;
  console.error(`first import: ${runs} run(s)`);
  const imported = (await open.db.select({ id: inboxMessages.id }).from(inboxMessages)).length;
  if (imported !== MESSAGES) throw new Error(`first import stored ${imported} of ${MESSAGES} messages`);
  figures.push({ name: `first import of ${MESSAGES} messages`, value: MESSAGES / (firstImportMs / 1000), unit: "msg/s", isHigherBetter: true });

  const idleMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    await makeDue();
    started = performance.now();
    await sync();
    idleMs.push(performance.now() - started);
  }
  figures.push({ name: `run with no new mail, ${MESSAGES}-message mailbox (median of 5)`, value: median(idleMs), unit: "ms", isHigherBetter: false });

  const oneNewMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    writeFileSync(join(maildir, "new", `${1_800_000_000 + i}.n${i}.bench`), benchMail(MESSAGES + i));
    execFileSync("chown", ["-R", "nobody:nogroup", maildir]);
    await makeDue();
    started = performance.now();
    const summary = await sync();
    oneNewMs.push(performance.now() - started);
    if (summary.messagesImported !== 1) throw new Error(`expected 1 new message, imported ${summary.messagesImported}`);
  }
  figures.push({ name: `run with 1 new mail, ${MESSAGES}-message mailbox (median of 5)`, value: median(oneNewMs), unit: "ms", isHigherBetter: false });

  await open.close();
  return figures;
}

function report(figures: Figure[], shouldSave: boolean): void {
  const baseline: Record<string, number> = existsSync(BASELINE_FILE) ? JSON.parse(readFileSync(BASELINE_FILE, "utf8")) : {};
  const rows = figures.map((f) => {
    const base = baseline[f.name];
    // Ratio > 1 always means "better than the baseline", whatever the unit.
    const ratio = base === undefined ? "—" : `${(f.isHigherBetter ? f.value / base : base / f.value).toFixed(2)}×`;
    return [f.name, `${f.value.toFixed(1)} ${f.unit}`, base === undefined ? "—" : `${base.toFixed(1)} ${f.unit}`, ratio];
  });
  const header = ["benchmark", "now", "baseline", "vs baseline (>1 = better)"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  const cores = cpus();
  console.log(`machine: ${cores.length} × ${cores[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GB, ${osType()} ${release()}, Node ${process.version}`);
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  if (shouldSave) {
    // Figures not measured this time (`--only`) keep their baseline.
    const merged = { ...baseline, ...Object.fromEntries(figures.map((f) => [f.name, Number(f.value.toFixed(2))])) };
    writeFileSync(BASELINE_FILE, `${JSON.stringify(merged, null, 2)}\n`);
    console.log(`baseline saved to ${BASELINE_FILE}`);
  }
}

/** A plausible client mail of about 3 KB, every tenth with a small PDF attachment. */
function benchMail(i: number): string {
  const date = new Date(Date.UTC(2026, 9, 1) + i * 60_000).toUTCString().replace("GMT", "+0000");
  const text = `Bonjour,\r\n\r\nSuite à notre échange, voici ma demande numéro ${i}.\r\n${"Merci de revenir vers moi rapidement. ".repeat(60)}\r\n\r\nCordialement,\r\nClient ${i % 97}\r\n`;
  const head = [
    `From: Client ${i % 97} <client${i % 97}@example.test>`, "To: bench@example.test", `Subject: Demande de devis ${i}`,
    `Date: ${date}`, `Message-ID: <bench-${i}-${randomBytes(4).toString("hex")}@example.test>`, "MIME-Version: 1.0",
  ];
  if (i % 10 !== 0) return `${head.join("\r\n")}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}`;
  const pdf = Buffer.from(`%PDF-1.4\n${"0".repeat(4000)}\n%%EOF\n`).toString("base64").replace(/.{76}/g, "$&\r\n");
  return `${head.join("\r\n")}\r\nContent-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${text}\r\n--b${i}\r\nContent-Type: application/pdf; name="devis-${i}.pdf"\r\nContent-Disposition: attachment; filename="devis-${i}.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n${pdf}\r\n--b${i}--\r\n`;
}

await main();
