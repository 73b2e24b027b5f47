// A TCP proxy in front of a test server that can misbehave on demand: stall (stop forwarding the
// server's bytes after a given count while keeping the socket open, as a hung server or a dead NAT
// path does) or drop every connection.

import { createConnection, createServer, type Socket } from "node:net";

export interface FaultProxy {
  port: number;
  /**
   * From now on, each new connection forwards only its first `bytes` bytes from the server to the
   * client, then goes silent without closing.
   */
  stallAfter(bytes: number): void;
  /**
   * From now on, removes STARTTLS from what the server announces (a man-in-the-middle downgrade:
   * the capability list travels in clear text before the upgrade).
   */
  stripStartTls(): void;
  /** Forward everything again (for new connections). */
  heal(): void;
  /** Closes every open connection at once. */
  dropAll(): void;
  /** Connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** Starts a proxy on a free loopback port towards `127.0.0.1:targetPort`. */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  let stallAfterBytes: number | null = null;
  let isStrippingStartTls = false;
  let accepted = 0;
  const server = createServer((client) => {
    accepted++;
    const limit = stallAfterBytes;
    const isStripping = isStrippingStartTls;
    let forwarded = 0;
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk: Buffer) => {
      if (isStripping) chunk = Buffer.from(chunk.toString("latin1").replace(/ STARTTLS/g, ""), "latin1");
      if (limit === null) {
        client.write(chunk);
        return;
      }
      const allowed = Math.max(0, limit - forwarded);
      if (allowed > 0) client.write(chunk.subarray(0, allowed));
      forwarded += chunk.length;
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    stallAfter: (bytes) => {
      stallAfterBytes = bytes;
    },
    stripStartTls: () => {
      isStrippingStartTls = true;
    },
    heal: () => {
      stallAfterBytes = null;
      isStrippingStartTls = false;
    },
    dropAll: () => {
      for (const s of sockets) s.destroy();
    },
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
