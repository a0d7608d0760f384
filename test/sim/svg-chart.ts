// Reads back what a report chart (src/report/svg.ts) drew: its plot and legend boxes, axes, series, bands and
// markers, with the axes' ticks turned into the maps from pixels back to data values.

export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

export interface ParsedAxis {
  readonly label: string;
  /** Data value at a pixel coordinate, from the axis's first and last tick. */
  readonly value: (pixel: number) => number;
  /** Pixel coordinate of a data value. */
  readonly pixel: (value: number) => number;
}

export interface ParsedChart {
  readonly plot: Box;
  readonly legend: Box | undefined;
  readonly legendText: readonly string[];
  readonly x: ParsedAxis;
  readonly y: ParsedAxis;
  readonly y2: ParsedAxis | undefined;
  /** Line series by name: their subpaths of [x, y] pixels. */
  readonly lines: ReadonlyMap<string, ReadonlyArray<ReadonlyArray<readonly [number, number]>>>;
  readonly bands: ReadonlyArray<Box & { readonly label: string }>;
  readonly markers: ReadonlyArray<{ readonly x: number; readonly label: string }>;
}

const num = (s: string | undefined): number => {
  const v = Number(s);
  if (s === undefined || !Number.isFinite(v)) throw new Error(`not a number: ${s}`);
  return v;
};

function attrs(tag: string): Record<string, string> {
  return Object.fromEntries([...tag.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

function box(tag: string | undefined): Box | undefined {
  if (tag === undefined) return undefined;
  const a = attrs(tag);
  return { x: num(a['x']), y: num(a['y']), width: num(a['width']), height: num(a['height']) };
}

function axis(svg: string, cls: string, coordinate: 'x' | 'y'): ParsedAxis | undefined {
  const group = new RegExp(`<g class="${cls}"[^>]*>([\\s\\S]*?)</g>`).exec(svg)?.[1];
  if (group === undefined) return undefined;
  const ticks = [...group.matchAll(/<text (x="[^"]*" y="[^"]*"[^>]*)>([^<]*)<\/text>/g)].map((m) => ({ pixel: num(attrs(m[1]!)[coordinate]), value: num(m[2]) }));
  const a = ticks[0];
  const b = ticks[ticks.length - 1];
  if (a === undefined || b === undefined || a === b) throw new Error(`axis ${cls}: fewer than two ticks`);
  const perPixel = (b.value - a.value) / (b.pixel - a.pixel);
  const label = /<text class="axis-label"[^>]*>([^<]*)<\/text>/.exec(group)?.[1] ?? '';
  return { label, value: (p) => a.value + (p - a.pixel) * perPixel, pixel: (v) => a.pixel + (v - a.value) / perPixel };
}

/** Parses a chart written by renderPlot. */
export function parseChart(svg: string): ParsedChart {
  const lines = new Map<string, Array<Array<[number, number]>>>();
  for (const m of svg.matchAll(/<path class="series" d="([^"]*)"[^>]*><title>([^<]*)<\/title><\/path>/g)) {
    const subpaths = m[1]!
      .split('M')
      .filter((s) => s !== '')
      .map((s) => s.split('L').map((p) => p.split(',').map(num) as [number, number]));
    lines.set(m[2]!, subpaths);
  }
  return {
    plot: box(/<rect class="plot"[^>]*>/.exec(svg)?.[0])!,
    legend: box(/<rect class="legend"[^>]*>/.exec(svg)?.[0]),
    legendText: [.../<g class="legend">([\s\S]*?)<\/g>/.exec(svg)?.[1]?.matchAll(/<text[^>]*>([^<]*)<\/text>/g) ?? []].map((m) => m[1]!),
    x: axis(svg, 'x', 'x')!,
    y: axis(svg, 'y', 'y')!,
    y2: axis(svg, 'y2', 'y'),
    lines,
    bands: [...svg.matchAll(/<rect class="band"([^>]*)><title>([^<]*)<\/title><\/rect>/g)].map((m) => ({ ...box(m[1]!)!, label: m[2]! })),
    markers: [...svg.matchAll(/<line class="marker"([^>]*)\/>\s*<text class="marker-label"[^>]*>([^<]*)<\/text>/g)].map((m) => ({ x: num(attrs(m[1]!)['x1']), label: m[2]! })),
  };
}

/** The y pixel of a line at pixel x, on the segment that spans x (strictly inside), or undefined. */
export function levelAt(subpaths: ReadonlyArray<ReadonlyArray<readonly [number, number]>>, x: number): number | undefined {
  for (const points of subpaths) {
    for (let i = 1; i < points.length; i++) {
      const [a, b] = [points[i - 1]!, points[i]!];
      if (a[0] < x && x < b[0]) return a[1] + ((x - a[0]) / (b[0] - a[0])) * (b[1] - a[1]);
    }
  }
  return undefined;
}

/** Whether two boxes share any area. */
export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}
