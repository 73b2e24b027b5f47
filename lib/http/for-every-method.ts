// A Vercel function's exports: one endpoint under every method name the platform dispatches on.

/** A web-standard request handler. */
export type Endpoint = (req: Request) => Promise<Response>;

/**
 * The endpoint under every method name a platform dispatches on. Vercel answers a method a function
 * does not export with its own plain-text 405; exporting them all lets our core answer every
 * method, with the JSON error and the `Allow` header.
 */
export function forEveryMethod(endpoint: Endpoint): Record<"GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS", Endpoint> {
  return { GET: endpoint, HEAD: endpoint, POST: endpoint, PUT: endpoint, PATCH: endpoint, DELETE: endpoint, OPTIONS: endpoint };
}
