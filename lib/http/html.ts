// A tiny HTML template tag that escapes every interpolated value unless it is already HTML made by
// this tag. The operator's page shows what mail servers and clients wrote (errors, subjects,
// addresses), the OAuth2 pages what a provider said: escaping by default is what keeps a crafted
// subject or address from becoming script.

/** HTML that is already safe to insert as is (made by `html`, or by `rawHtml` for constants). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | Interpolation[];

/** `html\`<td>${untrusted}</td>\``: strings are escaped, arrays joined, null/undefined/false omitted. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? "";
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? "");
  });
  return new SafeHtml(out);
}

/** Marks a constant string as HTML. Never pass it anything that came from a request or the database. */
export function rawHtml(value: string): SafeHtml {
  return new SafeHtml(value);
}

/** Escapes text for an element's content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function render(value: Interpolation): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

/**
 * A whole French page for a person: not indexed, fitted to a phone's width, styled by `style` (a
 * constant: the pages' Content-Security-Policy allows inline styles only).
 */
export function htmlDocument(title: string, style: SafeHtml, body: SafeHtml): SafeHtml {
  return html`<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>${style}</style>
</head>
<body>
${body}
</body>
</html>`;
}
