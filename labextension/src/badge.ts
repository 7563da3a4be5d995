/**
 * What a cell's badge says (a one-line summary and the detail rows of its
 * expander) and what the status-bar summary says. `summaryText`/`detailRows` are pure; `renderBadge` builds the DOM
 * with text nodes only, so nothing from a notebook is parsed as HTML.
 */

import {
  describeMethod,
  formatBytes,
  formatCarbon,
  formatDuration,
  formatEnergy,
  formatEnergyBand,
  sig
} from './format';
import type { PolicyStatus } from './badges';
import type { Settings } from './settings';
import { CellTrace, components, reportOf, Totals } from './trace';

type Units = Pick<Settings, 'energyUnit' | 'carbonUnit'>;

/** Whether the GPU did work for this cell (not merely held its memory). */
export function usedGpu(trace: CellTrace): boolean {
  const gpu = reportOf(trace)?.gpu;
  return gpu !== undefined && gpu.joules > 0 && (gpu.activity ?? 'active') === 'active';
}

/** The badge's GPU mark: "GPU" for work, "GPU idle" for memory held on an idle device. */
export function gpuMark(trace: CellTrace): string | null {
  const gpu = reportOf(trace)?.gpu;
  if (usedGpu(trace)) {
    return 'GPU';
  }
  return gpu?.activity === 'idle' && gpu.joules > 0 ? 'GPU idle' : null;
}

/** "1.23 s · 36.2 J · 4.83 mg CO₂e", or the duration and why energy is missing. */
export function summaryText(trace: CellTrace, units: Units): string {
  const parts = [formatDuration(trace.duration_s)];
  const report = reportOf(trace);
  if (report) {
    parts.push(formatEnergy(report.total_j, units.energyUnit), formatCarbon(report.co2e_g, units.carbonUnit));
  } else if (trace.energy && 'error' in trace.energy) {
    parts.push('energy not measured');
  }
  if (trace.status !== 'ok') {
    parts.push(trace.status === 'error' && trace.ename ? `error (${trace.ename})` : trace.status);
  }
  return parts.join(' · ');
}

/** The expander's rows: components with their method, RAM, grid intensity. */
export function detailRows(trace: CellTrace, units: Units): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['Wall time', formatDuration(trace.duration_s)],
    ['Status', trace.ename ? `${trace.status} (${trace.ename})` : trace.status]
  ];
  if (trace.execution_count !== null) {
    rows.push(['Execution', `[${trace.execution_count}]`]);
  }
  const report = reportOf(trace);
  if (!report) {
    const why = trace.energy && 'error' in trace.energy ? trace.energy.error : 'no energy record';
    rows.push(['Energy', `not measured: ${why}`]);
    return rows;
  }
  for (const [label, part] of components(report)) {
    const energy = formatEnergyBand(part.joules, part.low_j, part.high_j, units.energyUnit);
    const idle = part.activity === 'idle' ? ', memory held on an idle GPU' : '';
    rows.push([label, `${energy} — ${describeMethod(part.method)}${idle}`]);
  }
  rows.push(['Total', formatEnergyBand(report.total_j, report.total_low_j, report.total_high_j, units.energyUnit)]);
  const co2e = formatCarbon(report.co2e_g, units.carbonUnit);
  const { co2e_low_g: low, co2e_high_g: high } = report;
  rows.push([
    'CO₂e',
    low === undefined || high === undefined
      ? co2e
      : `${co2e} (${formatCarbon(low, units.carbonUnit)} – ${formatCarbon(high, units.carbonUnit)})`
  ]);
  if (report.peak_rss_bytes !== undefined) {
    rows.push(['Peak RAM', formatBytes(report.peak_rss_bytes)]);
  }
  if (report.cpu_s !== undefined) {
    rows.push(['CPU time', `${sig(report.cpu_s)} s`]);
  }
  const grid = report.basis?.grid;
  if (grid?.g_per_kwh !== undefined) {
    const where = [grid.code, grid.origin ? `from ${grid.origin}` : undefined].filter(Boolean).join(', ');
    rows.push(['Grid', `${sig(grid.g_per_kwh)} g/kWh${where ? ` (${where})` : ''}`]);
  }
  const pue = report.basis?.pue?.value;
  if (pue !== undefined) {
    rows.push(['PUE', sig(pue)]);
  }
  const tdp = report.basis?.cpu_tdp;
  if (tdp?.watts !== undefined && report.cpu?.method === 'tdp-model') {
    rows.push(['CPU TDP', `${sig(tdp.watts)} W${tdp.origin ? ` (${tdp.origin})` : ''}`]);
  }
  const rapl = report.basis?.rapl?.unavailable;
  if (rapl) {
    rows.push(['RAPL', `unavailable: ${rapl}`]);
  }
  for (const note of report.notes ?? []) {
    rows.push(['Note', note]);
  }
  return rows;
}

/** The badge: a `<details>` whose summary is the one-line text. */
export function renderBadge(trace: CellTrace, units: Units): HTMLElement {
  const details = document.createElement('details');
  details.className = 'vl-cell-badge';
  details.dataset.status = trace.status;
  details.dataset.measured = reportOf(trace) ? 'yes' : 'no';

  const summary = document.createElement('summary');
  const icon = document.createElement('span');
  icon.className = 'vl-cell-badge-icon';
  icon.textContent = '⚡';
  const text = document.createElement('span');
  text.className = 'vl-cell-badge-text';
  text.textContent = summaryText(trace, units);
  summary.append(icon, text);
  const mark = gpuMark(trace);
  if (mark) {
    const gpu = document.createElement('span');
    gpu.className = 'vl-cell-badge-gpu';
    gpu.dataset.activity = usedGpu(trace) ? 'active' : 'idle';
    gpu.textContent = mark;
    summary.append(gpu);
  }
  const rows = detailRows(trace, units);
  summary.title = rows.map(([k, v]) => `${k}: ${v}`).join('\n');

  const table = document.createElement('table');
  table.className = 'vl-cell-badge-details';
  for (const [label, value] of rows) {
    const tr = table.insertRow();
    const th = document.createElement('th');
    th.textContent = label;
    tr.append(th);
    tr.insertCell().textContent = value;
  }
  details.append(summary, table);
  return details;
}

/** The status-bar item's text. */
export function summaryLine(totals: Totals, policy: PolicyStatus, settings: Settings): string {
  const parts: string[] = [];
  if (totals.measured > 0) {
    parts.push(formatEnergy(totals.total_j, settings.energyUnit), formatCarbon(totals.co2e_g, settings.carbonUnit));
  } else {
    parts.push('no energy records');
  }
  if (policy) {
    parts.push(`policy ${policy === 'passed' ? 'PASSED' : 'FAILED'}`);
  }
  return `⚡ ${parts.join(' · ')}`;
}
