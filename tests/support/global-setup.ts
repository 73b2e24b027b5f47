// Starts the real peers once per test run (Dovecot, PostgreSQL, the Neon WebSocket proxy, an S3 server), migrates a
// template database that each test file clones, and stops everything at the end.

import pg from "pg";
import type { TestProject } from "vitest/node";
import { openDb } from "../../lib/db/client.js";
import { migrateDb } from "../../lib/db/migrate.js";
import { type AuthorizationServerInfo, startAuthorizationServer } from "./authorization-server.js";
import { type DovecotInfo, startDovecot } from "./dovecot.js";
import { startNeonWsProxy } from "./neon-ws-proxy.js";
import { startPostgres } from "./postgres.js";
import { startS3Server } from "./s3-server.js";

export const TEMPLATE_DATABASE = "lokario_template";

declare module "vitest" {
  export interface ProvidedContext {
    dovecot: DovecotInfo;
    authorizationServer: AuthorizationServerInfo;
    postgresPort: number;
    neonWsProxy: string;
    s3Port: number;
    s3Directory: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Before Dovecot: Dovecot's OAuth2 logins are checked against this server's introspection.
  const authorizationServer = await startAuthorizationServer();
  const [dovecot, postgres, proxy, s3] = await Promise.all([startDovecot(authorizationServer), startPostgres(), startNeonWsProxy(), startS3Server()]);
  const admin = new pg.Client({ connectionString: postgres.url("postgres") });
  await admin.connect();
  await admin.query(`create database ${TEMPLATE_DATABASE}`);
  await admin.end();
  const template = await openDb({ url: postgres.url(TEMPLATE_DATABASE), driver: "pg" });
  await migrateDb(template.db);
  await template.close();

  const { stop: _stop, ...dovecotInfo } = dovecot;
  project.provide("dovecot", dovecotInfo);
  const { stop: _stopAuthorization, ...authorizationInfo } = authorizationServer;
  project.provide("authorizationServer", authorizationInfo);
  project.provide("postgresPort", postgres.port);
  project.provide("neonWsProxy", proxy.address);
  project.provide("s3Port", s3.port);
  project.provide("s3Directory", s3.directory);

  return async () => {
    await proxy.stop();
    await s3.stop();
    await Promise.all([dovecot.stop(), postgres.stop()]);
    await authorizationServer.stop();
  };
}
