// How many sends a run makes at once through one SMTP account: each holds one of the account's
// slots from before it looks at the account's state until the server accepted its message (its
// record is written after), or, when it failed, until the account is marked down. Whatever the
// number of workers, an account never carries more sends than its slots, and a worker that gets a
// slot after a 4xx sees the account down and sends nothing through it.

/** Counting locks, one per SMTP account (sender key), with the same number of slots each. */
export class AccountSlots {
  private readonly accounts = new Map<string, { free: number; waiting: (() => void)[] }>();

  constructor(private readonly slotsPerAccount: number) {}

  /** Waits for a free slot of `key`'s account; call the returned function to give it back. */
  async acquire(key: string): Promise<() => void> {
    let account = this.accounts.get(key);
    if (!account) {
      account = { free: this.slotsPerAccount, waiting: [] };
      this.accounts.set(key, account);
    }
    const slots = account;
    if (slots.free > 0) slots.free--;
    else await new Promise<void>((resolve) => slots.waiting.push(resolve));
    let isReleased = false;
    return () => {
      if (isReleased) return;
      isReleased = true;
      // The slot passes straight to the next waiter, if any, so none can be overtaken.
      const next = slots.waiting.shift();
      if (next) next();
      else slots.free++;
    };
  }
}
