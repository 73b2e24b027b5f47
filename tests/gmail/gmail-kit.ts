// What the Gmail tests share: a mailbox of their own at the local Gmail server with a real access
// token for it, a client pointed at that server, and a clock that moves only when the code sleeps.

import { randomBytes } from "node:crypto";
import { createGmailClient, type GmailClient, type GmailClientOptions } from "../../lib/gmail/gmail-client.js";
import { createUnitLimiter } from "../../lib/gmail/unit-limiter.js";
import { accessTokenFor } from "../support/access-token.js";
import type { AuthorizationServerInfo } from "../support/authorization-server.js";
import type { TestGmailServer } from "../support/gmail-server.js";

/** A clock for code under test: `sleep` moves it forward at once and notes how long it was asked. */
export function fakeClock(start = new Date("2026-03-09T09:00:00Z")) {
  let nowMs = start.getTime();
  const sleeps: number[] = [];
  return {
    now: () => new Date(nowMs),
    sleep: async (ms: number) => {
      sleeps.push(ms);
      nowMs += ms;
    },
    advance: (ms: number) => {
      nowMs += ms;
    },
    sleeps,
  };
}

export type FakeClock = ReturnType<typeof fakeClock>;

/** A fresh Gmail address (an account of the authorization server) and an access token for it. */
export async function newMailbox(authorizationServer: AuthorizationServerInfo): Promise<{ address: string; token: string }> {
  const address = `boite-${randomBytes(5).toString("hex")}@lokario.test`;
  return { address, token: await accessTokenFor(authorizationServer, address) };
}

/** A client of `gmail` with `token`, on `clock`; tokens asked for are noted in `tokenRequests`. */
export function clientOf(gmail: TestGmailServer, token: string, clock: FakeClock, options: Partial<GmailClientOptions> = {}): GmailClient & { tokenRequests: (string | undefined)[] } {
  const tokenRequests: (string | undefined)[] = [];
  const client = createGmailClient({
    baseUrl: gmail.url,
    accessToken: async (refused) => {
      tokenRequests.push(refused);
      return token;
    },
    now: clock.now,
    sleep: clock.sleep,
    random: () => 0.5,
    limiter: createUnitLimiter({ unitsPerSecond: 200, burstUnits: 200, now: clock.now, sleep: clock.sleep }),
    ...options,
  });
  return Object.assign(client, { tokenRequests });
}

/** A small message, CRLF, with a Message-ID of its own. */
export function mail(options: { subject?: string; from?: string; to?: string; body?: string; headers?: Record<string, string> } = {}): Buffer {
  const extra = Object.entries(options.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  return Buffer.from(
    `From: ${options.from ?? "Client <client@example.com>"}\r\nTo: ${options.to ?? "contact@lokario.test"}\r\n`
      + `Subject: ${options.subject ?? "Devis"}\r\nMessage-ID: <${randomBytes(8).toString("hex")}@example.com>\r\n`
      + `Date: Mon, 9 Mar 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n${extra}\r\n`
      + `${options.body ?? "Bonjour, voici ma demande."}\r\n`,
  );
}
