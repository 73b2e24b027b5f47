// Work a request starts but the answer must not wait for: a Graph change notification is answered
// within Graph's 3 s, then its mailbox is synced. The platform is told to keep the invocation alive
// until that work ends (its `waitUntil`), so nothing is cut when the answer is sent: Netlify hands
// it to the handler as the second argument's `waitUntil`, Vercel through its request context
// (`@vercel/functions`). In a process of our own (`npm start`) the work simply runs on.

import { waitUntil as vercelWaitUntil } from "@vercel/functions";

/** What a platform passes a function beside the request (Netlify's `Context`); tests pass their own. */
export interface PlatformContext {
  waitUntil?(promise: Promise<unknown>): void;
}

/** Keeps the invocation alive until `work` settles; `work` must not reject (it logs its own failures). */
export function keepAfterResponse(work: Promise<void>, platform?: PlatformContext): void {
  if (typeof platform?.waitUntil === "function") platform.waitUntil(work);
  else vercelWaitUntil(work);
}
