// Message-IDs as keys: one normalized form for dedupe and threading. RFC 5322 §3.6.4 makes the
// left side case-sensitive, so only the domain (case-insensitive in DNS) is lowercased.

/** Longer ids are hashed for keys: a btree index entry must stay well under Postgres' 2.7 kB. */
export const MAX_MESSAGE_ID_CHARS = 500;

/** `<AbC@Example.COM>` → `AbC@example.com`; null when the value holds no id at all. */
export function normalizeMessageId(raw: string | null | undefined): string | null {
  if (!raw) return null;
  const bracketed = /<([^<>]*)>/.exec(raw);
  const inner = (bracketed ? bracketed[1] ?? "" : raw.trim().split(/\s+/)[0] ?? "").replace(/\s+/g, "");
  if (!inner) return null;
  const at = inner.lastIndexOf("@");
  return at < 0 ? inner : `${inner.slice(0, at)}@${inner.slice(at + 1).toLowerCase()}`;
}

/**
 * Every id listed in an `In-Reply-To` or `References` value, normalized, in order. Ids are taken
 * between angle brackets; a value without brackets (seen from broken clients) is split on spaces
 * and commas, keeping tokens that look like ids.
 */
export function messageIdsIn(value: string | null | undefined): string[] {
  if (!value) return [];
  const bracketed = [...value.matchAll(/<([^<>]+)>/g)].map((m) => m[0]);
  const tokens = bracketed.length ? bracketed : value.split(/[\s,]+/).filter((t) => t.includes("@"));
  const ids = tokens.map(normalizeMessageId).filter((id): id is string => id !== null);
  return [...new Set(ids)];
}
