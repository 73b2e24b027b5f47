// Inline SVG bar charts: no script, no image request, readable on a phone. Each chart is a few
// rows (one per measure) of bars over the same time buckets, with the row's maximum written beside
// it and each bar's value in its tooltip.

import { html, type SafeHtml } from "../../http/html.js";

export interface ChartRow {
  label: string;
  values: number[];
  /** How a value reads in a tooltip or as the row's maximum. */
  format: (value: number) => string;
  tone: "bleu" | "vert" | "rouge";
}

const WIDTH = 300;
const ROW_HEIGHT = 34;
const BAR_AREA = 22;
const COLORS = { bleu: "#2f6fb3", vert: "#2e7d4f", rouge: "#c0392b" } as const;

/** A chart of `rows` over buckets labelled `bucketLabels` (one label per bar, for tooltips). */
export function barChart(title: string, bucketLabels: string[], rows: ChartRow[]): SafeHtml {
  const barWidth = WIDTH / Math.max(1, bucketLabels.length);
  const height = rows.length * ROW_HEIGHT;
  const summary = rows.map((r) => `${r.label} : max ${r.format(Math.max(0, ...r.values))}`).join(" ; ");
  return html`<figure class="chart">
<figcaption>${title}</figcaption>
<svg viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${`${title}. ${summary}`}" preserveAspectRatio="none">
${rows.map((row, r) => {
  const max = Math.max(0, ...row.values);
  const top = r * ROW_HEIGHT;
  return html`<g>
<text x="2" y="${top + 9}" class="lbl">${row.label} (max ${row.format(max)})</text>
<line x1="0" x2="${WIDTH}" y1="${top + ROW_HEIGHT - 1}" y2="${top + ROW_HEIGHT - 1}" class="axis"/>
${row.values.map((value, i) => {
  const h = max > 0 ? Math.max(value > 0 ? 1.5 : 0, (value / max) * BAR_AREA) : 0;
  return html`<rect x="${(i * barWidth + 0.5).toFixed(1)}" y="${(top + ROW_HEIGHT - 1 - h).toFixed(1)}" width="${Math.max(1, barWidth - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[row.tone]}"><title>${bucketLabels[i]} : ${row.format(value)}</title></rect>`;
})}
</g>`;
})}
</svg>
</figure>`;
}
