// The one way a test file gets a peer to talk to (a database, an SMTP server, an SMPP gateway…):
// `useFixture` in a `describe` (or at the top of the file) makes it before the tests, or before each
// test, closes it after them, and hands it over as a plain constant, so the file states only what it
// tests. Call it before the file's own hooks that use the peer: hooks run in the order they were
// registered, and after-hooks in reverse, so the peer outlives whatever the file built on it.

import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";
import { lateBound } from "./late-bound.js";

/** "describe": one for the tests of the describe (or file) it is called in; "test": a fresh one per test. */
export type FixtureScope = "describe" | "test";

export interface FixtureOptions<T> {
  start(): Promise<T>;
  close(peer: T): Promise<void>;
  scope?: FixtureScope;
  /** Puts a shared peer back in shape after each test (e.g. a database's integrations deactivated). */
  afterEach?(peer: T): Promise<unknown>;
}

/** A peer made by hooks of the enclosing `describe` (call it there), standing for whatever they made last. */
export function useFixture<T extends object>(what: string, options: FixtureOptions<T>): T {
  let current: T | undefined;
  const start = async () => {
    current = await options.start();
  };
  const close = async () => {
    const peer = current;
    current = undefined;
    if (peer) await options.close(peer);
  };
  if (options.scope === "test") {
    beforeEach(start);
    afterEach(close);
  } else {
    beforeAll(start);
    afterAll(close);
  }
  const reset = options.afterEach;
  if (reset) {
    afterEach(async () => {
      if (current) await reset(current);
    });
  }
  return lateBound(() => current, what);
}
