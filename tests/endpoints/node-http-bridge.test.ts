// The bridge between node:http and the web-standard handlers, on a real server and a real client.

import { createServer, get, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendWebResponse } from "../../server/node-http-bridge.js";

describe("node:http bridge", () => {
  const server = createServer((_req, res) => {
    const headers = new Headers({ "content-type": "text/plain" });
    headers.append("set-cookie", "session=abc; HttpOnly; SameSite=Strict");
    headers.append("set-cookie", "flash=done; Max-Age=30");
    void sendWebResponse(res, new Response("ok", { headers }));
  });
  let url: string;

  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("writes each Set-Cookie of a response as its own header, so the browser keeps both cookies", async () => {
    const headers = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      get(url, (res) => {
        res.resume();
        resolve(res.headers);
      }).on("error", reject);
    });
    expect(headers["set-cookie"]).toEqual(["session=abc; HttpOnly; SameSite=Strict", "flash=done; Max-Age=30"]);
    expect(headers["content-type"]).toBe("text/plain");
  });
});
