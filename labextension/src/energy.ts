/**
 * The `%%vl_monitor` / `vl.monitor` result
 * (`application/vnd.venturalitica.energy+json`: `{name, error, energy}`).
 */

import { describeMethod, formatBytes, formatCarbon, formatDuration, formatEnergyBand } from './format';
import { components, EnergyReport, parseEnergyReport } from './trace';

export const ENERGY_MIME = 'application/vnd.venturalitica.energy+json';

export interface MonitorResult {
  name: string;
  report: EnergyReport | null;
  error: string | null;
}

export function readMonitor(value: unknown): MonitorResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('not a Venturalitica energy result (expected an object)');
  }
  const record = value as Record<string, unknown>;
  const report = parseEnergyReport(record.energy);
  const error = typeof record.error === 'string' ? record.error : null;
  if (!report && !error) {
    throw new Error('not a Venturalitica energy result (no "energy" report and no "error")');
  }
  return { name: typeof record.name === 'string' ? record.name : 'block', report, error };
}

/** The pieces the renderer lays out, in order. */
export function monitorParts(result: MonitorResult): Array<[string, string]> {
  const { report } = result;
  if (!report) {
    return [['not measured', result.error ?? '']];
  }
  const parts: Array<[string, string]> = [
    ['time', formatDuration(report.wall_s)],
    ['energy', formatEnergyBand(report.total_j, report.total_low_j, report.total_high_j)]
  ];
  for (const [label, part] of components(report)) {
    parts.push([label, `${formatEnergyBand(part.joules, part.low_j, part.high_j)}, ${describeMethod(part.method)}`]);
  }
  parts.push(['CO₂e', formatCarbon(report.co2e_g)]);
  if (report.peak_rss_bytes !== undefined) {
    parts.push(['peak RAM', formatBytes(report.peak_rss_bytes)]);
  }
  return parts;
}

export function renderMonitor(result: MonitorResult): HTMLElement {
  const root = document.createElement('div');
  root.className = 'vl-monitor';
  const name = document.createElement('code');
  name.textContent = result.name;
  root.append(name);
  for (const [label, value] of monitorParts(result)) {
    const part = document.createElement('span');
    part.className = 'vl-monitor-part';
    const b = document.createElement('b');
    b.textContent = label;
    part.append(b, ` ${value}`);
    root.append(part);
  }
  return root;
}
