// The subject as a threading key: reply and forward prefixes in the languages our clients write in
// ("Re:", "RE :", "TR:", "Fwd:", "AW:", "WG:", "Réf :", "R:", "I:"…) stripped however often they
// repeat, whitespace collapsed, case folded. List tags such as "[Chantier 12]" are kept: they are
// part of what the subject is about.

/** One reply/forward prefix, with an optional counter ("Re[2]:", "RE(3):") and space before the colon. */
const PREFIX =
  /^(?:re|r|fw|fwd|tr|aw|wg|sv|vs|antw|odp|rif|i|enc|res|réf|ref|rép|rep|回复|答复|转发)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*/iu;
/** A leading list tag, kept in the key but skipped to reach the prefixes behind it. */
const LEADING_TAG = /^\[[^\]]{0,100}\]\s*/u;

/** The normalized subject used to thread mail without threading headers ("" for no subject). */
export function subjectKey(subject: string | null | undefined): string {
  let rest = (subject ?? "").normalize("NFC").replace(/\s+/g, " ").trim();
  const tags: string[] = [];
  for (let guard = 0; guard < 50; guard++) {
    const tag = LEADING_TAG.exec(rest);
    if (tag) {
      tags.push(tag[0].trim());
      rest = rest.slice(tag[0].length);
      continue;
    }
    const prefix = PREFIX.exec(rest);
    if (!prefix) break;
    rest = rest.slice(prefix[0].length);
  }
  rest = rest.replace(/\s*\((?:fwd|fw)\)$/i, "");
  // A list that adds its tag again on every reply must not change the key.
  const uniqueTags = [...new Set(tags.map((t) => t.toLowerCase()))];
  return [...uniqueTags, rest.toLowerCase()].join(" ").trim();
}
