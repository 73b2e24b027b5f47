// A TCP proxy that can hold what clients send to the server (a database that stops answering for a
// while), then let it all through in order: keeps a request in flight for exactly as long as a test wants.

import { createConnection, createServer, type Socket } from "node:net";

export interface GateProxy {
  port: number;
  /** From now on, keeps every client's bytes instead of forwarding them. */
  hold(): void;
  /** Forwards what was held, in order, and everything after. */
  release(): void;
  /** Bytes held back since the last `hold()`. */
  heldBytes(): number;
  close(): Promise<void>;
}

/** Starts a gate on a free loopback port towards `127.0.0.1:targetPort`, open. */
export async function startGateProxy(targetPort: number): Promise<GateProxy> {
  const sockets = new Set<Socket>();
  const pending: { upstream: Socket; chunk: Buffer }[] = [];
  let isHolding = false;
  let held = 0;
  const server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.on("data", (chunk: Buffer) => {
      if (!isHolding) return void upstream.write(chunk);
      pending.push({ upstream, chunk });
      held += chunk.length;
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("gate proxy has no port");
  return {
    port: address.port,
    hold: () => {
      isHolding = true;
      held = 0;
    },
    release: () => {
      isHolding = false;
      for (const { upstream, chunk } of pending.splice(0)) upstream.write(chunk);
    },
    heldBytes: () => held,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
