// How many sends a run makes at once through one SMTP account: as many as the account has kept
// connections (SmtpSettings.maxConnections: SMTP_MAX_CONNECTIONS for the global relay, one for a
// company's own mailbox). Each send holds one of the account's slots from before it looks at the
// account's state until the server accepted its message (its record is written after), or, when it
// failed, until the account is marked down, which happens as soon as the failure is known, before
// anything is written. Whatever the number of workers, an account never carries more sends than
// its slots, and a send that gets a slot after a 4xx sees the account down and sends nothing
// through it. Sends already in flight on the account's other connections when the 4xx comes are
// not stopped: each ends with its own outcome (accepted → recorded as sent; its own 4xx → retried
// next run), so nothing is sent twice and nothing is lost.

/** Counting locks, one per SMTP account (sender key), each with its own number of slots. */
export class AccountSlots {
  private readonly accounts = new Map<string, { free: number; waiting: (() => void)[] }>();

  /**
   * Waits for a free slot of `key`'s account, which has `slots` of them (the number given the first
   * time the key is seen counts for the whole run); call the returned function to give it back.
   */
  async acquire(key: string, slots: number): Promise<() => void> {
    let account = this.accounts.get(key);
    if (!account) {
      account = { free: Math.max(1, slots), waiting: [] };
      this.accounts.set(key, account);
    }
    const state = account;
    if (state.free > 0) state.free--;
    else await new Promise<void>((resolve) => state.waiting.push(resolve));
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      // The slot passes straight to the next waiter, if any, so none can be overtaken.
      const next = state.waiting.shift();
      if (next) next();
      else state.free++;
    };
  }
}
