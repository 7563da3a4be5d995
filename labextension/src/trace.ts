/**
 * The per-cell record the agent's proxy adds to every `execute_reply` as
 * `metadata.venturalitica` (see docs/kernel.md), and its validation.
 *
 * The record arrives from a kernel and is stored in the notebook, so it is
 * checked field by field: a notebook edited by hand, or written by another
 * version, must give "no badge", never a broken cell.
 */

/** The key under which the record lives in the reply's and the cell's metadata. */
export const METADATA_KEY = 'venturalitica';

/** How a component's joules were obtained. */
export type EnergyMethod = string;

/** What the kernel's processes did on a GPU: kernels ran, or memory was only held. */
export type GpuActivity = 'active' | 'idle' | 'none';

export interface Component {
  joules: number;
  method: EnergyMethod;
  /** The error band: the truth lies within [low_j, high_j] (older records have none). */
  low_j?: number;
  high_j?: number;
  /** GPU only. */
  activity?: GpuActivity;
}

export interface EnergyBasis {
  grid?: { code?: string; g_per_kwh?: number; source?: string; origin?: string };
  pue?: { value?: number; origin?: string };
  cpu_tdp?: { watts?: number; origin?: string; model?: string | null };
  rapl?: { unavailable?: string };
}

export interface EnergyReport {
  wall_s: number;
  cpu_s?: number;
  cpu?: Component;
  ram?: Component;
  gpu?: Component;
  total_j: number;
  total_low_j?: number;
  total_high_j?: number;
  kwh: number;
  co2e_g: number;
  co2e_low_g?: number;
  co2e_high_g?: number;
  /** What a reader should know: a window shorter than a counter's update period, and so on. */
  notes?: string[];
  peak_rss_bytes?: number;
  mean_rss_bytes?: number;
  basis?: EnergyBasis;
}

/** What a cell's execution ended as, as the proxy saw it. */
export type CellStatus = 'ok' | 'error' | 'aborted' | 'died';

export interface CellTrace {
  cell_id: string | null;
  msg_id: string;
  execution_count: number | null;
  start: string;
  end: string;
  duration_s: number;
  status: CellStatus;
  ename?: string;
  /** The measurement, or why there is none (broken settings, metering off). */
  energy: { report: EnergyReport } | { error: string } | null;
}

const STATUSES: ReadonlySet<string> = new Set(['ok', 'error', 'aborted', 'died']);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function parseComponent(value: unknown): Component | undefined {
  if (!isObject(value) || !isFiniteNumber(value.joules) || typeof value.method !== 'string') {
    return undefined;
  }
  const component: Component = { joules: value.joules, method: value.method };
  if (isFiniteNumber(value.low_j) && isFiniteNumber(value.high_j)) {
    component.low_j = value.low_j;
    component.high_j = value.high_j;
  }
  if (value.activity === 'active' || value.activity === 'idle' || value.activity === 'none') {
    component.activity = value.activity;
  }
  return component;
}

/** Reads an energy section; `null` when it is not a report the badge can show. */
export function parseEnergyReport(value: unknown): EnergyReport | null {
  if (!isObject(value)) {
    return null;
  }
  const { wall_s, total_j, kwh, co2e_g } = value;
  if (![wall_s, total_j, kwh, co2e_g].every(isFiniteNumber)) {
    return null;
  }
  const report: EnergyReport = {
    wall_s: wall_s as number,
    total_j: total_j as number,
    kwh: kwh as number,
    co2e_g: co2e_g as number
  };
  for (const part of ['cpu', 'ram', 'gpu'] as const) {
    const component = parseComponent(value[part]);
    if (component) {
      report[part] = component;
    }
  }
  if (Array.isArray(value.notes)) {
    report.notes = value.notes.filter((n): n is string => typeof n === 'string');
  }
  for (const key of [
    'cpu_s',
    'peak_rss_bytes',
    'mean_rss_bytes',
    'total_low_j',
    'total_high_j',
    'co2e_low_g',
    'co2e_high_g'
  ] as const) {
    const n = value[key];
    if (isFiniteNumber(n)) {
      report[key] = n;
    }
  }
  if (isObject(value.basis)) {
    report.basis = value.basis as EnergyBasis;
  }
  return report;
}

/**
 * Reads the record from a reply's or a cell's metadata value. Returns `null`
 * for anything that is not one (a plain kernel sends nothing).
 */
export function parseCellTrace(value: unknown): CellTrace | null {
  if (!isObject(value)) {
    return null;
  }
  const { msg_id, start, end, duration_s, status } = value;
  if (
    typeof msg_id !== 'string' ||
    typeof start !== 'string' ||
    typeof end !== 'string' ||
    !isFiniteNumber(duration_s) ||
    typeof status !== 'string' ||
    !STATUSES.has(status)
  ) {
    return null;
  }
  let energy: CellTrace['energy'] = null;
  if (isObject(value.energy)) {
    if (typeof value.energy.error === 'string') {
      energy = { error: value.energy.error };
    } else {
      const report = parseEnergyReport(value.energy);
      energy = report ? { report } : { error: 'the energy record is not readable' };
    }
  }
  return {
    cell_id: typeof value.cell_id === 'string' ? value.cell_id : null,
    msg_id,
    execution_count: isFiniteNumber(value.execution_count) ? value.execution_count : null,
    start,
    end,
    duration_s,
    status: status as CellStatus,
    ename: typeof value.ename === 'string' ? value.ename : undefined,
    energy
  };
}

/** The report of a trace, when it has one. */
export function reportOf(trace: CellTrace): EnergyReport | null {
  return trace.energy && 'report' in trace.energy ? trace.energy.report : null;
}

/** The components a report has, labelled, in the order badges list them. */
export function components(report: EnergyReport): Array<[string, Component]> {
  const labelled: Array<[string, Component | undefined]> = [
    ['CPU', report.cpu],
    ['RAM', report.ram],
    ['GPU', report.gpu]
  ];
  return labelled.filter((entry): entry is [string, Component] => entry[1] !== undefined);
}

/** Totals over a notebook's cells, for the status bar. */
export interface Totals {
  cells: number;
  measured: number;
  duration_s: number;
  total_j: number;
  co2e_g: number;
}

export function summarise(traces: Iterable<CellTrace>): Totals {
  const totals: Totals = { cells: 0, measured: 0, duration_s: 0, total_j: 0, co2e_g: 0 };
  for (const trace of traces) {
    totals.cells += 1;
    totals.duration_s += trace.duration_s;
    const report = reportOf(trace);
    if (report) {
      totals.measured += 1;
      totals.total_j += report.total_j;
      totals.co2e_g += report.co2e_g;
    }
  }
  return totals;
}

/** Whether a method reads a hardware counter (RAPL, NVML) or is a model. */
export function isMeasured(method: EnergyMethod): boolean {
  return method === 'rapl' || method.startsWith('nvml');
}
