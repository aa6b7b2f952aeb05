/**
 * Charts of the review and figures pages: uPlot, bundled into the page (no CDN: a floor may have no
 * internet), in the dark theme of app.css. Each chart's container says how many points it drew
 * (`data-points`), for the page's tests and for anyone inspecting it.
 */
import uPlot from 'uplot';

const AXIS = { stroke: '#8a98a8', grid: { stroke: '#263140', width: 1 }, ticks: { stroke: '#263140', width: 1 } };

export interface Series {
  label: string;
  values: (number | null)[];
  colour: string;
}

function width(container: HTMLElement, fallback: number): number {
  return Math.max(260, Math.floor(container.getBoundingClientRect().width) || fallback);
}

/** A line per series over labelled periods (x: Unix seconds of each period's start, `labels` what to call it). */
export function lineChart(container: HTMLElement, x: number[], labels: string[], series: Series[], opts: { height?: number; yLabel?: string; xLabel?: string } = {}): uPlot {
  container.replaceChildren();
  const label = (v: number | null) => (v === null ? '' : (labels[x.indexOf(v)] ?? ''));
  // At most about eight labels on the axis, whatever the number of periods.
  const every = Math.max(1, Math.ceil(x.length / 8));
  const chart = new uPlot(
    {
      width: width(container, 420),
      height: opts.height ?? 180,
      scales: { x: { time: false, range: (_u, min, max) => (min === max ? [min - 1, max + 1] : [min, max]) }, y: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1) * 1.1] } },
      axes: [{ ...AXIS, splits: () => x.filter((_, i) => i % every === 0), values: (_u, splits) => splits.map(label) }, { ...AXIS, label: opts.yLabel, size: 46 }],
      series: [{ label: opts.xLabel ?? '', value: (_u, v) => label(v) }, ...series.map((s) => ({ label: s.label, stroke: s.colour, width: 2, points: { show: true, size: 5 }, spanGaps: false }))],
      legend: { show: true },
    },
    [x, ...series.map((s) => s.values)] as uPlot.AlignedData,
    container,
  );
  container.dataset.points = String(x.length * series.length);
  return chart;
}

/** Bars over labelled slots (calls per hour). */
export function barChart(container: HTMLElement, labels: string[], values: number[], opts: { height?: number; label?: string; colour?: string } = {}): uPlot {
  container.replaceChildren();
  const x = labels.map((_, i) => i);
  const chart = new uPlot(
    {
      width: width(container, 640),
      height: opts.height ?? 200,
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1) * 1.15] } },
      axes: [{ ...AXIS, values: (_u, splits) => splits.map((i) => labels[i] ?? ''), splits: () => x.filter((i) => i % 2 === 0) }, { ...AXIS, size: 46 }],
      series: [{}, { label: opts.label ?? '', fill: opts.colour ?? '#3b82f6', stroke: opts.colour ?? '#3b82f6', paths: uPlot.paths.bars!({ size: [0.8, 40] }), points: { show: false } }],
      legend: { show: false },
      cursor: { points: { show: false } },
    },
    [x, values],
    container,
  );
  container.dataset.points = String(values.length);
  return chart;
}
