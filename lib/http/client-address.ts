// Who sent a request, as far as it can be known without trusting the client: on a platform, the
// header that platform writes itself (a client's copy is overwritten); on our own server, the
// socket's address, handed over beside the Request rather than in a header a client could send.

import { isIP } from "node:net";
import type { Config } from "../config.js";

/**
 * The socket address of each Request built by our own node:http server. A side channel keyed by the
 * Request object: nothing a client puts on the wire can write to it, and it is forgotten with the
 * Request.
 */
const socketAddresses = new WeakMap<Request, string>();

/** Records the address of the socket `req` arrived on (the local server's bridge calls this). */
export function rememberSocketAddress(req: Request, address: string | undefined): void {
  if (address) socketAddresses.set(req, address);
}

/**
 * The client's address, or undefined when it cannot be told:
 * - Vercel overwrites `x-forwarded-for` and `x-real-ip` with the client's public address ("we
 *   currently overwrite the X-Forwarded-For header … to prevent IP spoofing"), and sets
 *   `x-vercel-forwarded-for`, the same value that a trusted proxy (Enterprise) cannot replace;
 * - Netlify sets `x-nf-client-connection-ip` to the address of the connection it received;
 * - our own server (`npm start`) knows its socket's peer; behind reverse proxies of its own, set
 *   TRUST_PROXY_HOPS to their number, and the address the outermost of them saw is read from the
 *   right end of `x-forwarded-for` (every proxy appends; whatever is further left, a client wrote).
 * Any other header of the kind is the client's to write, and ignored.
 */
export function clientAddressOf(req: Request, config: Pick<Config, "platform" | "trustProxyHops">): string | undefined {
  const header = (name: string) => req.headers.get(name)?.split(",")[0]?.trim() || undefined;
  switch (config.platform) {
    case "vercel":
      return header("x-vercel-forwarded-for") ?? header("x-real-ip") ?? header("x-forwarded-for");
    case "netlify":
      return header("x-nf-client-connection-ip");
    case "node": {
      const socket = socketAddresses.get(req);
      if (config.trustProxyHops === 0 || socket === undefined) return socket;
      const forwarded = (req.headers.get("x-forwarded-for") ?? "").split(",").map((entry) => entry.trim());
      // hops = 1: the last entry, appended by our proxy; a shorter list than promised: the leftmost.
      const candidate = forwarded[Math.max(0, forwarded.length - config.trustProxyHops)];
      return candidate && isIP(candidate) ? candidate : socket;
    }
  }
}
