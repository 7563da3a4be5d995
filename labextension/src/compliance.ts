/**
 * The compliance result (`application/vnd.venturalitica.compliance+json`,
 * the same JSON as `venturalitica enforce --json`): its reading, and the DOM
 * the renderer shows. Every string is placed with `textContent`; the chart
 * goes in as an `<img>` data URL, which cannot run script.
 */

import { sig } from './format';

export const COMPLIANCE_MIME = 'application/vnd.venturalitica.compliance+json';

export type ControlStatus = 'pass' | 'fail' | 'error' | 'inconclusive';

const STATUSES: ReadonlySet<string> = new Set(['pass', 'fail', 'error', 'inconclusive']);

export interface GroupRow {
  group: string;
  n: number | null;
  positives: number | null;
  rates: Record<string, number | null>;
}

export interface ControlRow {
  id: string;
  description: string;
  metric: string;
  operator: string;
  threshold: number | null;
  value: number | null;
  status: ControlStatus;
  mode: string;
  ci: { lower: number | null; upper: number | null; level: number | null } | null;
  reason: string | null;
  /** For an inconclusive control: the rows that would settle it. */
  rowsNeeded: number | null;
  groups: GroupRow[];
}

export interface Compliance {
  passed: boolean;
  title: string;
  source: string;
  summary: { total: number; passed: number; failed: number; errors: number; inconclusive: number };
  controls: ControlRow[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function str(value: unknown, fallback = ''): string {
  return typeof value === 'string' ? value : fallback;
}

function readGroups(value: unknown): GroupRow[] {
  if (!Array.isArray(value)) {
    return [];
  }
  return value.filter(isObject).map(g => ({
    group: String(g.group ?? ''),
    n: num(g.n),
    positives: num(g.positives),
    rates: isObject(g.rates) ? Object.fromEntries(Object.entries(g.rates).map(([k, v]) => [k, num(v)])) : {}
  }));
}

function readControl(c: Record<string, unknown>): ControlRow {
  // Anything this version does not know is shown as an error, never a pass.
  const status = typeof c.status === 'string' && STATUSES.has(c.status) ? (c.status as ControlStatus) : 'error';
  const ci = isObject(c.ci) ? { lower: num(c.ci.lower), upper: num(c.ci.upper), level: num(c.ci.level) } : null;
  return {
    id: str(c.id, '(no id)'),
    description: str(c.description),
    metric: str(c.metric_key),
    operator: str(c.operator),
    threshold: num(c.threshold),
    value: num(c.actual_value),
    status,
    mode: str(c.enforcement_mode, 'block'),
    ci,
    reason: typeof c.reason === 'string' ? c.reason : null,
    rowsNeeded: num(c.rows_needed),
    groups: readGroups(c.groups)
  };
}

/** Reads the result; throws with the reason when it is not one. */
export function readCompliance(value: unknown): Compliance {
  if (!isObject(value) || typeof value.passed !== 'boolean' || !Array.isArray(value.controls)) {
    throw new Error('not a Venturalitica compliance result (no "passed" and "controls")');
  }
  const controls = value.controls.filter(isObject).map(readControl);
  const summary = isObject(value.summary) ? value.summary : {};
  const policy = isObject(value.policy) ? value.policy : {};
  const data = isObject(value.data) ? value.data : {};
  const count = (key: string, fallback: number) => num(summary[key]) ?? fallback;
  return {
    passed: value.passed,
    // A policy without a title is named by its file, not its whole path.
    title: str(policy.title) || str(policy.path).split('/').pop() || 'policy',
    source: str(data.source),
    summary: {
      total: count('total', controls.length),
      passed: count('passed', controls.filter(c => c.status === 'pass').length),
      failed: count('failed', controls.filter(c => c.status === 'fail').length),
      errors: count('errors', controls.filter(c => c.status === 'error').length),
      inconclusive: count('inconclusive', controls.filter(c => c.status === 'inconclusive').length)
    },
    controls
  };
}

/** "0.795 [0.71, 0.88]" style value with its interval. */
export function valueText(control: ControlRow): string {
  const value = control.value === null ? '—' : sig(control.value, 4);
  if (!control.ci || control.ci.lower === null || control.ci.upper === null) {
    return value;
  }
  return `${value} [${sig(control.ci.lower, 3)}, ${sig(control.ci.upper, 3)}]`;
}

export function thresholdText(control: ControlRow): string {
  return `${control.operator} ${control.threshold === null ? '—' : sig(control.threshold, 4)}`;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

function statusPill(status: ControlStatus | 'passed' | 'failed'): HTMLElement {
  const pill = el('span', `vl-pill vl-pill-${status}`, status.toUpperCase());
  return pill;
}

function groupTable(control: ControlRow): HTMLElement {
  const rateKeys = [...new Set(control.groups.flatMap(g => Object.keys(g.rates)))];
  const table = el('table', 'vl-groups');
  const head = table.createTHead().insertRow();
  for (const name of ['group', 'n', 'positives', ...rateKeys]) {
    head.append(el('th', undefined, name));
  }
  const body = table.createTBody();
  for (const g of control.groups) {
    const row = body.insertRow();
    row.insertCell().textContent = g.group;
    row.insertCell().textContent = g.n === null ? '—' : String(g.n);
    row.insertCell().textContent = g.positives === null ? '—' : String(g.positives);
    for (const key of rateKeys) {
      const rate = g.rates[key];
      row.insertCell().textContent = rate === null || rate === undefined ? '—' : sig(rate, 4);
    }
  }
  return table;
}

/** The renderer's DOM: verdict, one row per control, groups behind a toggle, chart. */
export function renderCompliance(result: Compliance, svg: string | null): HTMLElement {
  const root = el('div', 'vl-compliance');
  root.dataset.passed = String(result.passed);

  const header = el('div', 'vl-compliance-header');
  header.append(statusPill(result.passed ? 'passed' : 'failed'));
  header.append(el('strong', 'vl-compliance-title', result.title));
  const s = result.summary;
  const errors = s.errors ? `, ${s.errors} error(s)` : '';
  const inconclusive = s.inconclusive ? `, ${s.inconclusive} inconclusive` : '';
  header.append(el('span', 'vl-compliance-count', `${s.passed}/${s.total} passed${errors}${inconclusive}`));
  if (result.source) {
    header.append(el('span', 'vl-compliance-source', `data ${result.source}`));
  }
  root.append(header);

  const table = el('table', 'vl-controls');
  const head = table.createTHead().insertRow();
  for (const name of ['status', 'control', 'metric', 'value [95% CI]', 'threshold', 'reason']) {
    head.append(el('th', undefined, name));
  }
  const body = table.createTBody();
  for (const control of result.controls) {
    const row = body.insertRow();
    row.className = `vl-control vl-control-${control.status}`;
    row.dataset.control = control.id;
    const status = row.insertCell();
    status.append(statusPill(control.status));
    if (control.mode !== 'block') {
      status.append(el('span', 'vl-mode', ` (${control.mode})`));
    }
    const id = row.insertCell();
    id.append(el('code', undefined, control.id));
    if (control.description) {
      id.title = control.description;
    }
    row.insertCell().textContent = control.metric;
    row.insertCell().textContent = valueText(control);
    row.insertCell().textContent = thresholdText(control);
    row.insertCell().textContent = control.status === 'pass' ? '' : (control.reason ?? '');

    if (control.groups.length > 0) {
      const detailRow = body.insertRow();
      detailRow.className = 'vl-control-groups';
      const cell = detailRow.insertCell();
      cell.colSpan = 6;
      const details = el('details');
      details.append(el('summary', undefined, `${control.groups.length} groups`));
      details.append(groupTable(control));
      cell.append(details);
    }
  }
  root.append(table);

  if (svg) {
    const chart = el('img', 'vl-compliance-chart');
    chart.alt = `Evidence chart for ${result.title}`;
    chart.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    root.append(chart);
  }
  return root;
}
