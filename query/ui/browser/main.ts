import 'uplot/dist/uPlot.min.css';
import './style.css';
import { alertEvents, ApiError, queryRange, type AlertEvent } from './api.js';
import { Chart } from './chart.js';
import { promqlEditor } from './editor.js';
import { alignSeries, seriesLabel } from './series.js';
import { chooseStep, formatDuration } from './step.js';
import {
  choiceFromParams,
  choiceToParams,
  parseTime,
  resolveRange,
  toLocalInput,
  type RangeChoice,
} from './timeRange.js';

/** Lines drawn at most: past this a browser chart is unreadable and slow; the status says so. */
const MAX_SERIES = 500;
/** Alert transitions listed under the chart at most (all are marked on the axis). */
const MAX_ALERT_ROWS = 50;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`chart page: #${id} is missing`);
  return found as T;
}

const page = {
  form: element<HTMLFormElement>('query-form'),
  range: element<HTMLSelectElement>('range'),
  absolute: element<HTMLElement>('absolute'),
  from: element<HTMLInputElement>('from'),
  to: element<HTMLInputElement>('to'),
  error: element<HTMLElement>('error'),
  warnings: element<HTMLElement>('warnings'),
  status: element<HTMLElement>('status'),
  alerts: element<HTMLElement>('alerts'),
  alertRows: element<HTMLElement>('alert-rows'),
};
// The service's URL is the page's: the page may sit under a path prefix behind a proxy.
const base = `${location.origin}${location.pathname.replace(/\/+$/, '')}`;
const params = new URLSearchParams(location.search);
const chart = new Chart(element('chart'));
const editor = promqlEditor(element('editor'), base, params.get('expr') ?? '', () => void execute());
let inFlight: AbortController | undefined;

/** The range the controls say, or an error message for absolute times that do not make one. */
function currentChoice(): RangeChoice | string {
  if (page.range.value !== 'custom') return { preset: page.range.value };
  const from = parseTime(page.from.value);
  const to = parseTime(page.to.value);
  if (from === undefined || to === undefined) return 'set both "from" and "to"';
  if (from >= to) return '"from" must be before "to"';
  return { from, to };
}

function showChoice(choice: RangeChoice): void {
  const custom = !('preset' in choice);
  page.range.value = custom ? 'custom' : choice.preset;
  page.absolute.hidden = !custom;
  if (custom) {
    page.from.value = toLocalInput(choice.from);
    page.to.value = toLocalInput(choice.to);
  }
}

function showError(message: string): void {
  page.error.textContent = message;
  page.error.hidden = false;
}

function showAlerts(events: AlertEvent[]): void {
  page.alertRows.replaceChildren(
    ...events.slice(0, MAX_ALERT_ROWS).map((event) => {
      const row = document.createElement('tr');
      const cells = [
        new Date(event.ts * 1000).toLocaleString(),
        event.rule,
        event.state,
        seriesLabel(event.labels),
      ];
      for (const text of cells) row.insertCell().textContent = text;
      row.cells[2]?.classList.add(`state-${event.state}`);
      return row;
    }),
  );
  page.alerts.hidden = events.length === 0;
}

/** Milliseconds to two significant digits below 10 ms: fast queries are the usual case. */
function formatMillis(ms: number): string {
  return ms < 10 ? `${Number(ms.toPrecision(2))} ms` : `${Math.round(ms)} ms`;
}

/** Runs the query over the chosen range and draws it; every outcome ends in `data-state`. */
async function execute(): Promise<void> {
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  page.error.hidden = true;
  page.warnings.hidden = true;
  const expr = editor.state.doc.toString().trim();
  const choice = currentChoice();
  if (typeof choice === 'string' || expr === '') {
    chart.clear();
    showError(typeof choice === 'string' ? choice : 'type a PromQL expression');
    document.body.dataset.state = 'error';
    return;
  }
  document.body.dataset.state = 'loading';
  const { start, end } = resolveRange(choice, Date.now() / 1000);
  const step = chooseStep(end - start, chart.width());
  params.set('expr', expr);
  choiceToParams(choice, params);
  history.replaceState(null, '', `?${params}`);
  page.status.textContent = 'querying…';

  const began = performance.now();
  // Marks are extra: their failure is reported, the chart is drawn anyway.
  const marks = alertEvents(base, { start, end }, controller.signal).catch((error: unknown) =>
    error instanceof ApiError ? error : new ApiError('error', String(error), 0),
  );
  try {
    const answer = await queryRange(base, expr, { start, end, step }, controller.signal);
    const millis = performance.now() - began;
    const alerts = await marks;
    if (controller.signal.aborted) return;
    const drawn = answer.series.slice(0, MAX_SERIES);
    const events = Array.isArray(alerts) ? alerts : [];
    if (drawn.length === 0) {
      chart.clear();
      const empty = document.createElement('div');
      empty.className = 'empty';
      empty.textContent = 'no data in this range';
      element('chart').append(empty);
    } else {
      chart.draw(alignSeries(drawn, { start, end, step }), events);
    }
    showAlerts(events);
    const notes = [...answer.warnings];
    if (answer.series.length > drawn.length)
      notes.push(`${answer.series.length} series: drawing the first ${MAX_SERIES}`);
    if (alerts instanceof ApiError) notes.push(`alert marks unavailable: ${alerts.message}`);
    if (notes.length > 0) {
      page.warnings.textContent = notes.join('\n');
      page.warnings.hidden = false;
    }
    const server =
      answer.serverSeconds === undefined ? '' : ` (server ${formatMillis(answer.serverSeconds * 1000)})`;
    page.status.replaceChildren(
      ...[
        ['series', String(answer.series.length)],
        ['step', formatDuration(step)],
        ['tier', answer.tier ?? 'not reported'],
        ['time', `${formatMillis(millis)}${server}`],
      ].flatMap(([name, value], i) => {
        const b = document.createElement('b');
        b.textContent = value ?? '';
        b.dataset.field = name;
        return [document.createTextNode(`${i === 0 ? '' : ' · '}${name} `), b];
      }),
    );
    document.body.dataset.state = 'ready';
  } catch (error) {
    if (controller.signal.aborted) return;
    chart.clear();
    page.status.textContent = '';
    showError(error instanceof ApiError ? `${error.errorType}: ${error.message}` : String(error));
    document.body.dataset.state = 'error';
  }
}

const initial = choiceFromParams(params);
showChoice(initial);
let lastPreset = 'preset' in initial ? initial.preset : '1h';
page.range.addEventListener('change', () => {
  const custom = page.range.value === 'custom';
  page.absolute.hidden = !custom;
  if (!custom) {
    lastPreset = page.range.value;
    void execute();
  } else if (page.from.value === '') {
    // Start the absolute range from the preset it replaces, so both fields are filled.
    const { start, end } = resolveRange({ preset: lastPreset }, Date.now() / 1000);
    page.from.value = toLocalInput(start);
    page.to.value = toLocalInput(end);
  }
});
page.form.addEventListener('submit', (event) => {
  event.preventDefault();
  void execute();
});
if (editor.state.doc.length > 0) void execute();
else document.body.dataset.state = 'ready';
