// How the Vonage client reads a failure of the connection itself, which decides whether a text may
// be resent: Vonage's SDK sends through Node's built-in fetch, whose errors name the cause one level
// down (`TypeError: fetch failed`, cause `ECONNREFUSED`), where the node-fetch of earlier SDKs named
// it at the top.

import { createServer, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { SmsSubmitError } from "../../lib/sms/sms-provider.js";
import { vonageProvider } from "../../lib/sms/vonage-client.js";
import { freePort } from "../support/ports.js";
import { startSilentServer } from "../support/silent-server.js";

const sms = { from: "LOKARIO", to: "+33612345678", text: "Votre facture FAC-2026-014 est échue.", reference: "attempt-1" };
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** The error a submission to `restHost` ends with. */
async function submitError(restHost: string, timeoutMs = 5_000): Promise<SmsSubmitError> {
  const provider = vonageProvider({ apiKey: "abcd1234", apiSecret: "vonage-secret-1", restHost, timeoutMs });
  const error = await provider.submit(sms, { onHandOver: async () => {} }).then(
    () => { throw new Error("the submission succeeded"); },
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(SmsSubmitError);
  return error as SmsSubmitError;
}

describe("Vonage client: failures of the connection", () => {
  it("says the text was not sent when nothing listens at Vonage's address", async () => {
    const error = await submitError(`http://127.0.0.1:${await freePort()}`);
    expect(error).toMatchObject({ kind: "transient", mayHaveBeenSent: false, isAccountDown: true, message: "Vonage unreachable (ECONNREFUSED)" });
  });

  it("says the text may have been sent when the connection drops once the request has left", async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.once("data", () => socket.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;

    const error = await submitError(`http://127.0.0.1:${port}`);
    expect(error).toMatchObject({ kind: "transient", mayHaveBeenSent: true, isAccountDown: true });
    expect(error.message).toMatch(/^no clear answer from Vonage/);
    expect(sockets).toHaveLength(1);
  });

  it("says the text may have been sent when Vonage never answers within the time-out", async () => {
    const silent = await startSilentServer();
    closers.push(() => silent.close());

    const error = await submitError(`http://127.0.0.1:${silent.port}`, 300);
    expect(error).toMatchObject({ kind: "transient", mayHaveBeenSent: true, isAccountDown: true });
    expect(silent.connections()).toBe(1);
  });
});
