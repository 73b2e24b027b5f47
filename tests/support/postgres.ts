// A throwaway PostgreSQL server for the test run: initdb into a temporary folder, started on a free
// loopback port. initdb refuses root, so as root it runs as the unprivileged `postgres` user.

import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export interface PostgresServer {
  port: number;
  /** A connection URL to one database of this server. */
  url(database: string): string;
  stop(): Promise<void>;
}

const UNPRIVILEGED_USER = "postgres";

/** Starts a PostgreSQL server, trusting local connections as user `postgres`. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const dir = mkdtempSync(join(tmpdir(), "lokario-pg-"));
  const dataDir = join(dir, "data");
  const port = await freePort();
  const isRoot = process.getuid?.() === 0;
  const asUser = (cmd: string, args: string[]) =>
    isRoot ? (["runuser", ["-u", UNPRIVILEGED_USER, "--", cmd, ...args]] as const) : ([cmd, args] as const);
  if (isRoot) {
    const { uid, gid } = userIds(UNPRIVILEGED_USER);
    chownSync(dir, uid, gid);
  }
  const [initCmd, initArgs] = asUser(join(bin, "initdb"), [
    "-D", dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
  ]);
  execFileSync(initCmd, [...initArgs], { stdio: "pipe" });
  const options = [
    `-p ${port}`, `-k ${dir}`, "-c listen_addresses=127.0.0.1", "-c fsync=off", "-c synchronous_commit=off",
    "-c full_page_writes=off", "-c max_connections=300", "-c shared_buffers=64MB",
  ].join(" ");
  const pgCtl = (args: string[]) => {
    const [cmd, fullArgs] = asUser(join(bin, "pg_ctl"), args);
    // pg_ctl leaves a daemon behind: its stdio must not be pipes we would wait on.
    return spawnSync(cmd, [...fullArgs], { stdio: "ignore", timeout: 60_000 });
  };
  const started = pgCtl(["start", "-w", "-D", dataDir, "-l", join(dir, "postgres.log"), "-o", options]);
  if (started.status !== 0) throw new Error(`PostgreSQL did not start (exit ${started.status}): see ${dir}/postgres.log`);
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    stop: async () => {
      pgCtl(["stop", "-D", dataDir, "-m", "immediate"]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresBinDir(): string {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(root, v, "bin", "initdb"))) return join(root, v, "bin");
  }
  return join(execFileSync("pg_config", ["--bindir"]).toString().trim());
}

function userIds(name: string): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", name]).toString().trim());
  const gid = Number(execFileSync("id", ["-g", name]).toString().trim());
  return { uid, gid };
}
