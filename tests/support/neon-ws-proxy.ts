// A WebSocket-to-TCP proxy, so the Neon serverless driver (which speaks the Postgres protocol over a
// WebSocket, as Neon's own proxy does) can reach the local PostgreSQL server. The client names its
// target in `?address=host:port`; only loopback targets are allowed.

import { createConnection } from "node:net";
import { WebSocketServer } from "ws";
import { freePort } from "./ports.js";

export interface NeonWsProxy {
  /** The value for NEON_WEBSOCKET_PROXY ("127.0.0.1:PORT/v2"). */
  address: string;
  stop(): Promise<void>;
}

/** Starts the proxy on a free loopback port. */
export async function startNeonWsProxy(): Promise<NeonWsProxy> {
  const port = await freePort();
  const server = new WebSocketServer({ host: "127.0.0.1", port });
  server.on("connection", (socket, request) => {
    const target = new URL(request.url ?? "/", "http://proxy").searchParams.get("address") ?? "";
    const [host, portText] = target.split(":");
    if (!host || !portText || !["127.0.0.1", "localhost"].includes(host)) {
      socket.close(1008, "only loopback targets");
      return;
    }
    const tcp = createConnection({ host: "127.0.0.1", port: Number(portText) });
    const pending: Buffer[] = [];
    tcp.on("connect", () => {
      for (const chunk of pending.splice(0)) tcp.write(chunk);
    });
    socket.on("message", (data: Buffer) => {
      if (tcp.connecting) pending.push(data);
      else tcp.write(data);
    });
    tcp.on("data", (data) => socket.readyState === socket.OPEN && socket.send(data));
    tcp.on("close", () => socket.close());
    tcp.on("error", () => socket.close());
    socket.on("close", () => tcp.destroy());
    socket.on("error", () => tcp.destroy());
  });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  return {
    address: `127.0.0.1:${port}/v2`,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => resolve());
      }),
  };
}
