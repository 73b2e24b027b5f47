/**
 * Fan-out of one sync ping: when more mailboxes are due than one invocation is expected to sync within
 * its budget, the ping starts parallel invocations of the same deployment (its own sync endpoint,
 * marked `?fanout=child`, with the cron secret), and each claims its share through the leases.
 *
 * - Opt-in (`FANOUT_MAX_INVOCATIONS` > 0) and bounded by it.
 * - No recursion: a child never fans out (the marker turns it off).
 * - No work after the answer: the parent awaits the children's answers alongside its own work, up to
 *   a few seconds past its budget, and reports what they did.
 * - The address comes from configuration (or the platform's own variables), never from the request's
 *   Host header, which the client chooses.
 */

import type { Config } from "../config.js";
import { shortReason } from "../errors.js";
import type { Budget } from "../jobs/budget.js";
import type { Logger } from "../log.js";

/** The inbox sync's endpoint, which a ping calls to start its children (its registry entry names it too). */
export const SYNC_ALL_PATH = "/api/inbox/integrations/sync-all";

/** A child runs on its own budget, started a little after ours: wait this much past our deadline for its answer. */
export const CHILD_ANSWER_GRACE_MS = 5_000;

/** The query parameter that marks a fanned-out invocation: `?fanout=child`. */
const CHILD_MARKER = { name: "fanout", value: "child" } as const;

/** Whether a request's query marks it as a fanned-out invocation. */
export function isFanoutChildQuery(query: URLSearchParams): boolean {
  return query.get(CHILD_MARKER.name) === CHILD_MARKER.value;
}

/** What the invocations started by one ping did. */
export interface FanoutSummary {
  /** Invocations started. */
  started: number;
  /** Of those, how many answered 200 in time. */
  answered: number;
  integrations: { attempted: number; succeeded: number; failed: number };
  messagesImported: number;
  messagesSetAside: number;
  /** A child said work is left. */
  remaining: boolean;
}

/** Children in flight; `settle()` waits for their answers and sums them. */
export interface Fanout {
  settle(): Promise<FanoutSummary>;
}

/** How many children a ping starts when `dueCount` mailboxes are due (0: it works alone). */
export function childInvocationsFor(config: Config, dueCount: number): number {
  const { maxInvocations, mailboxesPerInvocation } = config.fanout;
  if (maxInvocations === 0) return 0;
  return Math.max(0, Math.min(maxInvocations, Math.ceil(dueCount / mailboxesPerInvocation) - 1));
}

/** Starts `count` children (at once, without waiting), or none when fan-out cannot be done safely. */
export function startFanout(config: Config, count: number, budget: Budget, log: Logger): Fanout | undefined {
  if (count <= 0) return undefined;
  const secret = config.cronSecrets[0];
  if (!config.fanout.baseUrl || !secret) {
    // Without an address of our own, or a secret the children could prove, there is nobody to call safely.
    log.warn("fan-out wanted but not possible: set FANOUT_BASE_URL (or PUBLIC_BASE_URL) and CRON_SECRET", { invocations: count });
    return undefined;
  }
  const url = `${config.fanout.baseUrl}${SYNC_ALL_PATH}?${CHILD_MARKER.name}=${CHILD_MARKER.value}`;
  const signal = AbortSignal.timeout(Math.max(1, Math.floor(budget.remainingMs())) + CHILD_ANSWER_GRACE_MS);
  log.info("fanning out", { invocations: count });
  const answers = Array.from({ length: count }, () => askChild(url, secret, signal, log));
  return {
    settle: async () => {
      const summary: FanoutSummary = {
        started: count, answered: 0, integrations: { attempted: 0, succeeded: 0, failed: 0 },
        messagesImported: 0, messagesSetAside: 0, remaining: false,
      };
      for (const answer of await Promise.all(answers)) {
        if (!answer) continue;
        summary.answered++;
        summary.integrations.attempted += answer.integrations?.attempted ?? 0;
        summary.integrations.succeeded += answer.integrations?.succeeded ?? 0;
        summary.integrations.failed += answer.integrations?.failed ?? 0;
        summary.messagesImported += answer.messagesImported ?? 0;
        summary.messagesSetAside += answer.messagesSetAside ?? 0;
        summary.remaining ||= answer.remaining === true;
      }
      return summary;
    },
  };
}

/** The parts of a child's answer that are summed. */
interface ChildAnswer {
  integrations?: { attempted?: number; succeeded?: number; failed?: number };
  messagesImported?: number;
  messagesSetAside?: number;
  remaining?: boolean;
}

/** One child's answer, or null when it failed or did not answer in time (logged; never thrown). */
async function askChild(url: string, secret: string, signal: AbortSignal, log: Logger): Promise<ChildAnswer | null> {
  try {
    const response = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${secret}` }, signal });
    if (!response.ok) {
      await response.body?.cancel();
      log.warn("fan-out invocation refused", { status: response.status });
      return null;
    }
    return (await response.json()) as ChildAnswer;
  } catch (err) {
    log.warn("fan-out invocation did not answer", { error: shortReason(err) });
    return null;
  }
}
