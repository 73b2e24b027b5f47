// Runs a producer ahead of its consumer, holding at most a bounded number of bytes of what it made:
// the import downloads the next batch while the current one is parsed and stored, and memory stays
// bounded, whatever the size of the mailbox or of one message. The bound counts what waits in the
// queue and the item the consumer has in hand (until it asks for the next): nothing more is made
// while the consumer works on an item larger than the bound. The producer is driven from one loop
// only, so it never runs two steps at once (imapflow takes one command at a time per connection).

export interface ReadAhead<T> extends AsyncIterable<T> {
  /**
   * Stops the producer and waits for the step it is in to end (a download in progress is read to
   * its end: the connection can take another command only then). Its error, if any, is dropped.
   */
  close(): Promise<void>;
  /** The most bytes ever held in the queue at once. */
  readonly peakQueuedBytes: number;
}

/** How far the producer may run ahead, at most. */
export interface ReadAheadBounds {
  /**
   * Bytes held: waiting in the queue and in the consumer's hand. The producer makes an item when
   * fewer are held, or when nothing is held at all, however large the item turns out.
   */
  maxBytes: number;
  /** Items waiting. */
  maxItems: number;
}

/**
 * Pulls `source` ahead while the queue is within `bounds`. An error of the producer reaches the
 * consumer after the items made before it.
 */
export function readAhead<T>(source: AsyncIterator<T>, sizeOf: (item: T) => number, bounds: ReadAheadBounds): ReadAhead<T> {
  const queue: { item: T; bytes: number }[] = [];
  let queuedBytes = 0;
  let peakQueuedBytes = 0;
  // The item the consumer took and is still working on (until it asks for the next).
  let inHandBytes = 0;
  let isDone = false;
  let isClosed = false;
  let failure: { error: unknown } | null = null;
  // Wakes the consumer waiting for an item, or the producer waiting for room.
  let wakeConsumer: (() => void) | null = null;
  let wakeProducer: (() => void) | null = null;

  const produce = async () => {
    try {
      while (!isClosed) {
        const isHolding = queue.length > 0 || inHandBytes > 0;
        if (queue.length >= bounds.maxItems || (isHolding && queuedBytes + inHandBytes >= bounds.maxBytes)) {
          await new Promise<void>((resolve) => (wakeProducer = resolve));
          wakeProducer = null;
          continue;
        }
        const next = await source.next();
        if (next.done || isClosed) break;
        const bytes = sizeOf(next.value);
        queue.push({ item: next.value, bytes });
        queuedBytes += bytes;
        peakQueuedBytes = Math.max(peakQueuedBytes, queuedBytes);
        wakeConsumer?.();
      }
    } catch (err) {
      failure = { error: err };
    } finally {
      isDone = true;
      wakeConsumer?.();
    }
  };
  const producing = produce();

  return {
    get peakQueuedBytes() {
      return peakQueuedBytes;
    },
    async close() {
      isClosed = true;
      wakeProducer?.();
      await producing;
      await source.return?.().catch(() => undefined);
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const head = queue.shift();
        if (head) {
          queuedBytes -= head.bytes;
          inHandBytes = head.bytes;
          wakeProducer?.();
          yield head.item;
          inHandBytes = 0;
          wakeProducer?.();
          continue;
        }
        if (isDone) {
          if (failure) throw failure.error;
          return;
        }
        await new Promise<void>((resolve) => (wakeConsumer = resolve));
        wakeConsumer = null;
      }
    },
  };
}
