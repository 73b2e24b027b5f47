// How many IMAP sessions at once a run opens on one mail host, learned per host: a safe start
// (SYNC_CONCURRENCY_PER_HOST), ×1.5 after each round the host accepted in full, halved when it turns
// a session away at the door, and kept in `imap_host_concurrency` so the next run (or a concurrent
// one) starts from what the host accepted. A company's 200 mailboxes on one server 50 ms away sweep
// at 6.5 mailboxes/s five at a time and about 18/s twenty at a time (bench/README.md, "fleet").

import { inArray, sql } from "drizzle-orm";
import type { Db } from "../db/client.js";
import { imapHostConcurrency } from "../db/schema.js";
import { shortReason } from "../errors.js";
import type { Logger } from "../log.js";

/**
 * The most sessions a run opens on one host however well it answers: past twenty, a provider's
 * per-address limits (Gmail 15, Microsoft 20, cPanel's Dovecot 20 per user and address) are the
 * likelier answer than more speed, and a sweep is already near its login floor (bench/README.md).
 */
export const HOST_SESSION_CEILING = 20;

/**
 * A host's refusal caps growth below the number of sessions it refused for this long: limits are
 * configuration, changed rarely, and growing into them again every run would cost a refusal each time.
 * Past it the host is probed again (a limit raised, a busy hour over).
 */
export const REFUSAL_MEMORY_MS = 24 * 60 * 60 * 1000;

export interface HostSessionBoundsOptions {
  db: Db;
  now: () => Date;
  log: Logger;
  /** The bound of a host never seen (or whose row is lost): the run's SYNC_CONCURRENCY_PER_HOST. */
  startBound: number;
  /** The highest bound (HOST_SESSION_CEILING, or less when the run's whole concurrency is less). */
  ceiling: number;
  /** Hosts that are not learned (a Graph mailbox's own key): they keep `startBound`. */
  isLearned: (hostKey: string) => boolean;
}

/** What a session remembers of its host's state when it started, to report how it ended. */
export interface SessionTicket {
  hostKey: string;
  /** The bound's generation when it started: a refusal of an older generation was already answered. */
  generation: number;
  /** Sessions open on the host when it started, itself included. */
  openAtStart: number;
}

interface HostState {
  bound: number;
  generation: number;
  acceptedSinceChange: number;
  refusedAtSessions: number | null;
  refusedAt: Date | null;
}

/**
 * The per-host bounds of one run. Reads a host's stored bound the first time the run meets it,
 * writes each change at once (a run killed mid-way keeps what it learned), and never fails the run
 * for the table: a lost write only means the next run starts lower.
 */
export function createHostSessionBounds(options: HostSessionBoundsOptions) {
  const hosts = new Map<string, HostState>();
  let writes: Promise<void> = Promise.resolve();

  const isRefusalFresh = (state: HostState): state is HostState & { refusedAtSessions: number } =>
    state.refusedAtSessions !== null && state.refusedAt !== null && options.now().getTime() - state.refusedAt.getTime() < REFUSAL_MEMORY_MS;
  const capOf = (state: HostState): number => {
    const refusedCap = isRefusalFresh(state) ? Math.max(1, state.refusedAtSessions - 1) : Infinity;
    return Math.min(options.ceiling, refusedCap);
  };
  const stateOf = (hostKey: string): HostState => {
    let state = hosts.get(hostKey);
    if (!state) {
      state = { bound: options.startBound, generation: 0, acceptedSinceChange: 0, refusedAtSessions: null, refusedAt: null };
      hosts.set(hostKey, state);
    }
    return state;
  };
  const persist = (hostKey: string, state: HostState) => {
    const row = {
      hostKey, sessionBound: state.bound, refusedAtSessions: state.refusedAtSessions, refusedAt: state.refusedAt, updatedAt: options.now(),
    };
    writes = writes.then(async () => {
      try {
        await options.db
          .insert(imapHostConcurrency)
          .values(row)
          .onConflictDoUpdate({
            target: imapHostConcurrency.hostKey,
            set: {
              sessionBound: sql`excluded.session_bound`,
              refusedAtSessions: sql`excluded.refused_at_sessions`,
              refusedAt: sql`excluded.refused_at`,
              updatedAt: sql`excluded.updated_at`,
            },
          });
      } catch (err) {
        options.log.warn("host session bound not saved", { hostKey, err: shortReason(err) });
      }
    });
  };

  return {
    /** Reads the stored bounds of the hosts in `hostKeys` this run has not met yet. */
    async load(hostKeys: Iterable<string>): Promise<void> {
      const unseen = [...new Set(hostKeys)].filter((h) => !hosts.has(h) && options.isLearned(h));
      if (unseen.length === 0) return;
      let rows: (typeof imapHostConcurrency.$inferSelect)[] = [];
      try {
        rows = await options.db.select().from(imapHostConcurrency).where(inArray(imapHostConcurrency.hostKey, unseen));
      } catch (err) {
        options.log.warn("host session bounds not read, starting from the default", { err: shortReason(err) });
      }
      for (const hostKey of unseen) {
        const state = stateOf(hostKey);
        const row = rows.find((r) => r.hostKey === hostKey);
        if (!row) continue;
        state.refusedAtSessions = row.refusedAtSessions;
        state.refusedAt = row.refusedAt;
        state.bound = Math.max(1, Math.min(row.sessionBound, capOf(state)));
      }
    },

    /** How many sessions the run may have open on `hostKey` now. */
    boundFor(hostKey: string): number {
      return options.isLearned(hostKey) ? stateOf(hostKey).bound : options.startBound;
    },

    /** A session starts on `hostKey` with `openAtStart` sessions open there, itself included. */
    started(hostKey: string, openAtStart: number): SessionTicket {
      return { hostKey, generation: stateOf(hostKey).generation, openAtStart };
    },

    /** The host let the session in: after a full round of them at the current bound, the bound grows. */
    accepted(ticket: SessionTicket): void {
      if (!options.isLearned(ticket.hostKey)) return;
      const state = stateOf(ticket.hostKey);
      state.acceptedSinceChange++;
      if (state.acceptedSinceChange < state.bound) return;
      const grown = Math.min(capOf(state), Math.max(state.bound + 1, Math.ceil(state.bound * 1.5)));
      state.acceptedSinceChange = 0;
      if (grown <= state.bound) return;
      state.bound = grown;
      state.generation++;
      options.log.debug("host session bound raised", { hostKey: ticket.hostKey, bound: grown });
      persist(ticket.hostKey, state);
    },

    /**
     * The host turned the session away at the door with `openAtRefusal` sessions of the run open there
     * (itself included): the bound halves (never below 1) and growth stops below that number. Sessions
     * started before an earlier cut report the same excess: only the first of a generation halves.
     */
    refused(ticket: SessionTicket, openAtRefusal: number): void {
      if (!options.isLearned(ticket.hostKey)) return;
      const state = stateOf(ticket.hostKey);
      state.refusedAtSessions = isRefusalFresh(state) ? Math.min(state.refusedAtSessions, openAtRefusal) : openAtRefusal;
      state.refusedAt = options.now();
      state.acceptedSinceChange = 0;
      if (ticket.generation === state.generation) {
        state.bound = Math.max(1, Math.min(Math.floor(state.bound / 2), capOf(state)));
        state.generation++;
      } else {
        // Already halved for this excess, but never kept at or above the sessions just refused.
        state.bound = Math.max(1, Math.min(state.bound, capOf(state)));
      }
      options.log.info("host refused a session, bound lowered", { hostKey: ticket.hostKey, bound: state.bound, openAtRefusal });
      persist(ticket.hostKey, state);
    },

    /** Waits for the writes under way (the end of the run). */
    flush(): Promise<void> {
      return writes;
    },
  };
}

export type HostSessionBounds = ReturnType<typeof createHostSessionBounds>;
