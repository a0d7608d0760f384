// Minimal dependency-free SVG charts for reports: line/point series on one or two y axes, shaded x ranges
// (bands) and vertical markers, and a legend below the plot area so it never covers data.

export interface Series {
  readonly name: string;
  readonly color: string;
  /** [x, y] points; with `line`, a point whose y is not finite breaks the line. */
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly line?: boolean;
  readonly radius?: number;
  /** The y axis the series is drawn against (default: left). */
  readonly axis?: 'left' | 'right';
  /** stroke-dasharray of the line, e.g. '6 3'. */
  readonly dash?: string;
}

/** A shaded range of x (a phase, a period); bands of the same label share one legend entry. */
export interface Band {
  readonly from: number;
  readonly to: number;
  readonly label: string;
  readonly color: string;
}

/** A vertical line at x with a short label above the plot; markers of the same `legend` share one legend entry. */
export interface Marker {
  readonly at: number;
  readonly label: string;
  readonly legend: string;
  readonly color: string;
}

export interface AxisSpec {
  /** The axis title, with its unit. */
  readonly label: string;
  /** Include 0 in the range. */
  readonly zero?: boolean;
}

export interface ChartSpec {
  readonly title: string;
  readonly x: AxisSpec;
  readonly y: AxisSpec;
  /** A second y axis on the right for series with `axis: 'right'`. */
  readonly y2?: AxisSpec;
  readonly series: readonly Series[];
  readonly bands?: readonly Band[];
  readonly markers?: readonly Marker[];
  readonly width?: number;
  /** Height of the plot area (the document grows by the title, the axes and the legend). */
  readonly plotHeight?: number;
}

function niceTicks(min: number, max: number, count: number): number[] {
  const span = max - min || Math.abs(max) || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] ?? c);
}

/** A coordinate to 0.1 px, without a trailing ".0" (keeps the documents small). */
const px = (v: number): string => String(Math.round(v * 10) / 10);

/** [min, max] of the values, padded; from 0 when `zero` (and no value is negative). */
function range(values: readonly number[], pad: number, zero = false): [number, number] {
  const finite = values.filter(Number.isFinite);
  let lo = finite.length === 0 ? 0 : Math.min(...finite);
  let hi = finite.length === 0 ? 1 : Math.max(...finite);
  if (zero) lo = Math.min(lo, 0);
  const p = (hi - lo || Math.abs(hi) || 1) * pad;
  hi += p;
  if (!(zero && lo === 0)) lo -= p;
  return [lo, hi];
}

/** Distance (px) of p from the line through a and b. */
function offLine(p: readonly [number, number], a: readonly [number, number], b: readonly [number, number]): number {
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  const len = Math.hypot(dx, dy);
  return len === 0 ? Math.hypot(p[0] - a[0], p[1] - a[1]) : Math.abs(dx * (p[1] - a[1]) - dy * (p[0] - a[0])) / len;
}

/**
 * Keeps the points of a line that matter on screen: a point is dropped while it and every point dropped since
 * the last one kept lie within 0.2 px of the straight line from that point to the next.
 */
function simplify(run: ReadonlyArray<readonly [number, number]>): Array<readonly [number, number]> {
  if (run.length < 3) return [...run];
  const kept: Array<readonly [number, number]> = [run[0]!];
  let from = 0;
  for (let i = 1; i < run.length - 1; i++) {
    const a = kept[kept.length - 1]!;
    const next = run[i + 1]!;
    let straight = true;
    for (let k = from + 1; k <= i && straight; k++) straight = offLine(run[k]!, a, next) <= 0.2;
    if (!straight) {
      kept.push(run[i]!);
      from = i;
    }
  }
  kept.push(run[run.length - 1]!);
  return kept;
}

/** SVG path data of a line in screen coordinates; a non-finite y breaks it. */
function pathData(points: ReadonlyArray<readonly [number, number]>, sx: (x: number) => number, sy: (y: number) => number): string {
  const parts: string[] = [];
  let run: Array<readonly [number, number]> = [];
  const flush = (): void => {
    const kept = simplify(run);
    if (kept.length > 1) parts.push(kept.map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p[0])},${px(p[1])}`).join(''));
    run = [];
  };
  for (const [x, y] of points) {
    if (Number.isFinite(y)) run.push([sx(x), sy(y)]);
    else flush();
  }
  flush();
  return parts.join('');
}

interface LegendEntry {
  readonly kind: 'line' | 'point' | 'band' | 'marker';
  readonly label: string;
  readonly color: string;
  readonly dash?: string;
}

function legendEntries(spec: ChartSpec): LegendEntry[] {
  const entries: LegendEntry[] = spec.series.map((s) => ({ kind: s.line === true && s.points.length > 1 ? 'line' : 'point', label: s.name, color: s.color, ...(s.dash === undefined ? {} : { dash: s.dash }) }));
  const seen = new Set<string>();
  for (const b of spec.bands ?? []) if (!seen.has(`b${b.label}`) && seen.add(`b${b.label}`)) entries.push({ kind: 'band', label: b.label, color: b.color });
  for (const m of spec.markers ?? []) if (!seen.has(`m${m.legend}`) && seen.add(`m${m.legend}`)) entries.push({ kind: 'marker', label: m.legend, color: m.color });
  return entries;
}

/** Lays the legend out in rows below the plot, `left` to `left + width`; returns its markup and height. */
function renderLegend(entries: readonly LegendEntry[], left: number, top: number, width: number): { markup: string[]; height: number } {
  const charPx = 6.6; // sans-serif at 12 px, generously
  const rowPx = 18;
  const out: string[] = [];
  let x = left + 8;
  let row = 0;
  for (const e of entries) {
    const w = 30 + e.label.length * charPx;
    if (x > left + 8 && x + w > left + width) {
      x = left + 8;
      row++;
    }
    const y = top + 14 + row * rowPx;
    if (e.kind === 'band') out.push(`<rect x="${px(x)}" y="${y - 9}" width="20" height="11" fill="${e.color}"/>`);
    else if (e.kind === 'point') out.push(`<circle cx="${px(x + 10)}" cy="${y - 4}" r="4" fill="${e.color}"/>`);
    else {
      const vertical = e.kind === 'marker';
      const [x1, y1, x2, y2] = vertical ? [x + 10, y - 11, x + 10, y + 3] : [x, y - 4, x + 20, y - 4];
      out.push(`<line x1="${px(x1)}" y1="${y1}" x2="${px(x2)}" y2="${y2}" stroke="${e.color}" stroke-width="2"${e.dash === undefined && !vertical ? '' : ` stroke-dasharray="${e.dash ?? '4 2'}"`}/>`);
    }
    out.push(`<text x="${px(x + 26)}" y="${y}">${escapeXml(e.label)}</text>`);
    x += w;
  }
  const height = entries.length === 0 ? 0 : (row + 1) * rowPx + 6;
  if (height > 0) out.unshift(`<g class="legend"><rect class="legend" x="${left}" y="${top}" width="${width}" height="${height}" fill="none" stroke="#ccc"/>`);
  if (height > 0) out.push('</g>');
  return { markup: out, height };
}

/** Marker labels above the plot, stepped up a row where they would touch their neighbour. */
function renderMarkers(markers: readonly Marker[], sx: (x: number) => number, top: number, bottom: number): string[] {
  const out: string[] = [];
  const rowEnds: number[] = [];
  for (const m of [...markers].sort((a, b) => a.at - b.at)) {
    const x = sx(m.at);
    const w = m.label.length * 6.6;
    let row = rowEnds.findIndex((end) => end < x - w / 2 - 4);
    if (row < 0 || row > 2) row = Math.min(rowEnds.length, 2);
    rowEnds[row] = x + w / 2;
    out.push(`<line class="marker" x1="${px(x)}" y1="${top}" x2="${px(x)}" y2="${bottom}" stroke="${m.color}" stroke-width="1.5" stroke-dasharray="4 2"/>`);
    out.push(`<text class="marker-label" x="${px(x)}" y="${top - 5 - row * 12}" text-anchor="middle" font-size="11" fill="${m.color}">${escapeXml(m.label)}</text>`);
  }
  return out;
}

/** Tick labels and title of a y axis (left or right of the plot); `grid` draws its grid lines. */
function renderYAxis(side: 'left' | 'right', axis: AxisSpec, [lo, hi]: [number, number], sy: (y: number) => number, plot: { l: number; r: number }, total: { w: number; midY: number }, grid: boolean): string[] {
  const out: string[] = [];
  const left = side === 'left';
  out.push(`<g class="${left ? 'y' : 'y2'}" text-anchor="${left ? 'end' : 'start'}">`);
  for (const t of niceTicks(lo, hi, 6)) {
    if (grid) out.push(`<line x1="${plot.l}" y1="${px(sy(t))}" x2="${plot.r}" y2="${px(sy(t))}" stroke="#eee"/>`);
    out.push(`<text x="${left ? plot.l - 6 : plot.r + 6}" y="${px(sy(t))}" dy="4">${t}</text>`);
  }
  out.push(`<text class="axis-label" transform="translate(${left ? 18 : total.w - 14} ${total.midY}) rotate(${left ? -90 : 90})" text-anchor="middle">${escapeXml(axis.label)}</text>`);
  out.push('</g>');
  return out;
}

/** Renders a chart into a standalone SVG document (no external fonts, styles or scripts). */
export function renderPlot(spec: ChartSpec): string {
  const width = spec.width ?? 720;
  const plotH = spec.plotHeight ?? 340;
  const markers = spec.markers ?? [];
  const right = spec.series.filter((s) => s.axis === 'right');
  const left = spec.series.filter((s) => s.axis !== 'right');
  const m = { l: 80, r: spec.y2 === undefined ? 20 : 70, t: markers.length > 0 ? 62 : 40 };
  const plotBottom = m.t + plotH;
  const plot = { l: m.l, r: width - m.r };
  const xs = [...spec.series.flatMap((s) => s.points.map((p) => p[0])), ...(spec.bands ?? []).flatMap((b) => [b.from, b.to]), ...markers.map((k) => k.at)];
  const [x0, x1] = range(xs, 0.03);
  const yl = range(left.flatMap((s) => s.points.map((p) => p[1])), 0.08, spec.y.zero);
  const yr = range(right.flatMap((s) => s.points.map((p) => p[1])), 0.08, spec.y2?.zero);
  const sx = (x: number): number => plot.l + ((x - x0) / (x1 - x0)) * (plot.r - plot.l);
  const scaleY = ([lo, hi]: [number, number]) => (y: number): number => plotBottom - ((y - lo) / (hi - lo)) * plotH;
  const [syl, syr] = [scaleY(yl), scaleY(yr)];
  const body: string[] = [];
  for (const b of spec.bands ?? []) {
    const [a, z] = [sx(Math.max(b.from, x0)), sx(Math.min(b.to, x1))];
    body.push(`<rect class="band" x="${px(a)}" y="${m.t}" width="${px(Math.max(z - a, 1))}" height="${plotH}" fill="${b.color}"><title>${escapeXml(b.label)}</title></rect>`);
  }
  body.push(`<g class="x" text-anchor="middle">`);
  for (const t of niceTicks(x0, x1, 8)) {
    body.push(`<line x1="${px(sx(t))}" y1="${m.t}" x2="${px(sx(t))}" y2="${plotBottom}" stroke="#eee"/>`);
    body.push(`<text x="${px(sx(t))}" y="${plotBottom + 16}">${t}</text>`);
  }
  body.push(`<text class="axis-label" x="${(plot.l + plot.r) / 2}" y="${plotBottom + 38}">${escapeXml(spec.x.label)}</text>`, '</g>');
  const total = { w: width, midY: m.t + plotH / 2 };
  body.push(...renderYAxis('left', spec.y, yl, syl, plot, total, true));
  if (spec.y2 !== undefined) body.push(...renderYAxis('right', spec.y2, yr, syr, plot, total, false));
  body.push(`<rect class="plot" x="${plot.l}" y="${m.t}" width="${plot.r - plot.l}" height="${plotH}" fill="none" stroke="#333"/>`);
  body.push(...renderMarkers(markers, sx, m.t, plotBottom));
  for (const s of spec.series) {
    const sy = s.axis === 'right' ? syr : syl;
    if (s.line === true && s.points.length > 1) {
      body.push(`<path class="series" d="${pathData(s.points, sx, sy)}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dash === undefined ? '' : ` stroke-dasharray="${s.dash}"`}><title>${escapeXml(s.name)}</title></path>`);
    } else {
      const circles = s.points.filter((p) => Number.isFinite(p[1])).map((p) => `<circle cx="${px(sx(p[0]))}" cy="${px(sy(p[1]))}" r="${s.radius ?? 2}"/>`);
      body.push(`<g class="series" fill="${s.color}"><title>${escapeXml(s.name)}</title>${circles.join('')}</g>`);
    }
  }
  const legend = renderLegend(legendEntries(spec), plot.l, plotBottom + 50, plot.r - plot.l);
  const height = plotBottom + 50 + legend.height + 10;
  const head = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(spec.title)}</text>`,
  ];
  return `${[...head, ...body, ...legend.markup, '</svg>'].join('\n')}\n`;
}

/** A chart of series against one y axis (the legend below the plot). */
export function renderChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], width = 720, height = 440): string {
  return renderPlot({ title, x: { label: xLabel }, y: { label: yLabel }, series, width, plotHeight: height - 100 });
}
