import uPlot from 'uplot';
import type { AlertEvent } from './api.js';
import { formatValue, type AlignedSeries } from './series.js';

const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];
const ALERT_COLORS: Record<string, string> = { firing: '#d62728', pending: '#ff9800', resolved: '#2ca02c' };
const HEIGHT = 360;

function color(i: number): string {
  // Past the palette, spread hues by the golden angle so neighbours stay apart.
  return PALETTE[i] ?? `hsl(${Math.round((i * 137.5) % 360)}, 65%, 45%)`;
}

/** Draws each alert transition as a dashed vertical line across the plot, a triangle on top. */
function alertMarks(events: AlertEvent[]): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const { left, top, width, height } = u.bbox;
        const ctx = u.ctx;
        ctx.save();
        ctx.lineWidth = devicePixelRatio;
        ctx.setLineDash([4 * devicePixelRatio, 4 * devicePixelRatio]);
        for (const event of events) {
          const x = Math.round(u.valToPos(event.ts, 'x', true));
          if (x < left || x > left + width) continue;
          const stroke = ALERT_COLORS[event.state] ?? '#555';
          ctx.strokeStyle = stroke;
          ctx.fillStyle = stroke;
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          const size = 5 * devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(x - size, top);
          ctx.lineTo(x + size, top);
          ctx.lineTo(x, top + size * 1.5);
          ctx.fill();
        }
        ctx.restore();
      },
    },
  };
}

/** The chart: one uPlot line a series, the legend of their labels with values under the cursor. */
export class Chart {
  private plot: uPlot | undefined;

  constructor(private readonly root: HTMLElement) {
    window.addEventListener('resize', () => this.plot?.setSize({ width: this.width(), height: HEIGHT }));
  }

  /** Width available to the plot, CSS pixels: the step is chosen from it. */
  width(): number {
    const style = getComputedStyle(this.root);
    const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    return Math.max(300, Math.floor(this.root.clientWidth - padding));
  }

  draw(data: AlignedSeries, alerts: AlertEvent[]): void {
    this.clear();
    const options: uPlot.Options = {
      width: this.width(),
      height: HEIGHT,
      plugins: [alertMarks(alerts)],
      cursor: { focus: { prox: 16 } },
      focus: { alpha: 0.3 },
      legend: { live: true },
      scales: { x: { time: true } },
      axes: [{}, { size: 60, values: (_u, splits) => splits.map((v) => formatValue(v)) }],
      series: [
        {},
        ...data.series.map((s, i) => ({
          label: s.label,
          stroke: color(i),
          width: 1.5,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => formatValue(v),
        })),
      ],
    };
    this.plot = new uPlot(options, [data.x, ...data.series.map((s) => s.values)], this.root);
    this.root.dataset.series = String(data.series.length);
  }

  clear(): void {
    this.plot?.destroy();
    this.plot = undefined;
    this.root.replaceChildren();
    this.root.dataset.series = '0';
  }
}
