import { describe, expect, it } from 'vitest';

import { isMeasured, parseCellTrace, reportOf, summarise } from '../src/trace';
import { PROXY_RECORD } from './fixtures';

describe('parseCellTrace', () => {
  it('reads the record the proxy writes', () => {
    const trace = parseCellTrace(PROXY_RECORD)!;
    expect(trace.cell_id).toBe('c0ffee');
    expect(trace.execution_count).toBe(1);
    expect(trace.status).toBe('ok');
    const report = reportOf(trace)!;
    expect(report.total_j).toBeCloseTo(36.155, 3);
    expect(report.cpu).toEqual({ joules: 36.125, method: 'tdp-model' });
    expect(report.gpu).toBeUndefined();
    expect(report.basis?.grid?.g_per_kwh).toBe(480.6);
  });

  it('gives null for anything that is not a record', () => {
    for (const value of [undefined, null, 3, 'x', [], {}, { ...PROXY_RECORD, status: 'weird' }]) {
      expect(parseCellTrace(value)).toBeNull();
    }
    expect(parseCellTrace({ ...PROXY_RECORD, duration_s: 'slow' })).toBeNull();
  });

  it('keeps the reason when energy was not measured', () => {
    const trace = parseCellTrace({ ...PROXY_RECORD, energy: { error: 'VENTURALITICA_PUE: not a number' } })!;
    expect(trace.energy).toEqual({ error: 'VENTURALITICA_PUE: not a number' });
    expect(reportOf(trace)).toBeNull();
  });

  it('turns an unreadable energy section into an error, not a zero', () => {
    const trace = parseCellTrace({ ...PROXY_RECORD, energy: { total_j: 'lots' } })!;
    expect(trace.energy).toEqual({ error: 'the energy record is not readable' });
  });

  it('keeps an error name and a missing energy section', () => {
    const trace = parseCellTrace({ ...PROXY_RECORD, status: 'error', ename: 'ZeroDivisionError', energy: null })!;
    expect(trace.ename).toBe('ZeroDivisionError');
    expect(trace.energy).toBeNull();
  });
});

describe('summarise', () => {
  it('adds energy over measured cells and time over all', () => {
    const a = parseCellTrace(PROXY_RECORD)!;
    const b = parseCellTrace({ ...PROXY_RECORD, duration_s: 2, energy: { error: 'off' } })!;
    const totals = summarise([a, a, b]);
    expect(totals.cells).toBe(3);
    expect(totals.measured).toBe(2);
    expect(totals.total_j).toBeCloseTo(2 * 36.15536014916132, 12);
    expect(totals.co2e_g).toBeCloseTo(2 * 0.0048267405799130355, 15);
    expect(totals.duration_s).toBeCloseTo(2 * 0.753892383 + 2, 12);
  });

  it('is zero for no cells', () => {
    expect(summarise([])).toEqual({ cells: 0, measured: 0, duration_s: 0, total_j: 0, co2e_g: 0 });
  });
});

describe('isMeasured', () => {
  it('counts counters as measured and models as not', () => {
    expect(isMeasured('rapl')).toBe(true);
    expect(isMeasured('nvml-energy')).toBe(true);
    expect(isMeasured('tdp-model')).toBe(false);
    expect(isMeasured('ram-model')).toBe(false);
  });
});
