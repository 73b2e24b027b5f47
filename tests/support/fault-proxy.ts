// A TCP proxy in front of a test server that can misbehave on demand: stall (stop forwarding the
// server's bytes after a given count while keeping the socket open, as a hung server or a dead NAT
// path does) or drop every connection. It can also stand for a distant server (added round-trip
// time) or for another host (any loopback address, e.g. 127.0.0.2), and counts open connections.

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
  /** The most connections that were open at the same time (until either side hung up). */
  peakOpenConnections(): number;
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  /** The loopback address to listen on (default 127.0.0.1): another address is another "host". */
  host?: string;
  /**
   * Round-trip time to add, as a distant server would have: each chunk is held half of it in each
   * direction, and the server's side is reached one round trip late (the TCP handshake).
   */
  latencyMs?: number;
}

/** Starts a proxy on a free loopback port towards `127.0.0.1:targetPort`. */
export async function startFaultProxy(targetPort: number, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  let stallAfterBytes: number | null = null;
  let isStrippingStartTls = false;
  let accepted = 0;
  let open = 0;
  let peakOpen = 0;
  const oneWayMs = (options.latencyMs ?? 0) / 2;
  // Timers of equal delay fire in the order they were set, so chunks keep their order.
  const later = (fn: () => void) => (oneWayMs > 0 ? setTimeout(fn, oneWayMs) : fn());
  const server = createServer((client) => {
    accepted++;
    open++;
    peakOpen = Math.max(peakOpen, open);
    let isGone = false;
    // Open until either side hangs up: the server ending the session (its answer to LOGOUT) ends it
    // for the server, even while the client's side of the socket is still being torn down.
    const hangUp = () => {
      if (isGone) return;
      isGone = true;
      open--;
    };
    const limit = stallAfterBytes;
    const isStripping = isStrippingStartTls;
    let forwarded = 0;
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    if (oneWayMs > 0) {
      upstream.pause();
      setTimeout(() => upstream.resume(), 2 * oneWayMs);
    }
    for (const s of [client, upstream]) {
      s.on("end", hangUp);
      s.on("close", hangUp);
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {});
    }
    client.on("data", (chunk) => later(() => upstream.write(chunk)));
    upstream.on("data", (chunk: Buffer) => later(() => forward(chunk)));
    const forward = (chunk: Buffer) => {
      if (client.destroyed) return;
      if (isStripping) chunk = Buffer.from(chunk.toString("latin1").replace(/ STARTTLS/g, ""), "latin1");
      if (limit === null) {
        client.write(chunk);
        return;
      }
      const allowed = Math.max(0, limit - forwarded);
      if (allowed > 0) client.write(chunk.subarray(0, allowed));
      forwarded += chunk.length;
    };
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => later(() => client.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, options.host ?? "127.0.0.1", resolve));
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
    peakOpenConnections: () => peakOpen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
