// Minimal dependency-free SVG charts for reports: scatter/line series with labelled axes and markers.

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly line?: boolean;
  readonly radius?: number;
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

/** Renders the series into a standalone SVG document. */
export function renderChart(title: string, xLabel: string, yLabel: string, series: readonly Series[], width = 720, height = 440): string {
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  if (!Number.isFinite(x0)) [x0, x1, y0, y1] = [0, 1, 0, 1];
  const padX = (x1 - x0 || 1) * 0.05;
  const padY = (y1 - y0 || 1) * 0.08;
  x0 -= padX;
  x1 += padX;
  y0 -= padY;
  y1 += padY;
  const m = { l: 80, r: 20, t: 40, b: 60 };
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * (width - m.l - m.r);
  const sy = (y: number): number => height - m.b - ((y - y0) / (y1 - y0)) * (height - m.t - m.b);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`);
  for (const t of niceTicks(x0, x1, 8)) {
    out.push(`<line x1="${sx(t)}" y1="${m.t}" x2="${sx(t)}" y2="${height - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${sx(t)}" y="${height - m.b + 16}" text-anchor="middle">${t}</text>`);
  }
  for (const t of niceTicks(y0, y1, 6)) {
    out.push(`<line x1="${m.l}" y1="${sy(t)}" x2="${width - m.r}" y2="${sy(t)}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${t}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${width - m.l - m.r}" height="${height - m.t - m.b}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${width / 2}" y="${height - 18}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${height / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`);
  series.forEach((s, k) => {
    if (s.line === true && s.points.length > 1) {
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${s.points.map((p) => `${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join(' ')}"/>`);
    } else {
      for (const p of s.points) out.push(`<circle cx="${sx(p[0]).toFixed(1)}" cy="${sy(p[1]).toFixed(1)}" r="${s.radius ?? 2}" fill="${s.color}"/>`);
    }
    const ly = m.t + 16 + k * 16;
    out.push(`<rect x="${width - m.r - 190}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>`);
    out.push(`<text x="${width - m.r - 175}" y="${ly}">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
