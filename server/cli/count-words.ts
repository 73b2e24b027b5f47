// Counts in the CLI's words: "1 message", "3 messages", "0 messages" (English: only 1 takes the singular).

/** `n` followed by `singular`, or by `plural` (the singular plus "s" unless given) when n is not 1. */
export function countOf(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}
