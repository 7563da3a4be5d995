import { describe, expect, it } from 'vitest';

import { detailRows, gpuMark, summaryLine, summaryText, usedGpu } from '../src/badge';
import { readSettings, DEFAULT_SETTINGS } from '../src/settings';
import { parseCellTrace, summarise } from '../src/trace';
import { PROXY_RECORD } from './fixtures';

const units = { energyUnit: 'auto', carbonUnit: 'auto' } as const;
const trace = parseCellTrace(PROXY_RECORD)!;

describe('the cell badge', () => {
  it('summarises duration, energy and CO2e', () => {
    expect(summaryText(trace, units)).toBe('754 ms · 36.2 J · 4.83 mg CO₂e');
    expect(summaryText(trace, { energyUnit: 'Wh', carbonUnit: 'g' })).toBe('754 ms · 0.01 Wh · 0.00483 g CO₂e');
  });

  it('says when energy was not measured, and how a cell ended', () => {
    const broken = parseCellTrace({ ...PROXY_RECORD, status: 'error', ename: 'KeyError', energy: { error: 'x' } })!;
    expect(summaryText(broken, units)).toBe('754 ms · energy not measured · error (KeyError)');
    const died = parseCellTrace({ ...PROXY_RECORD, status: 'died', energy: null })!;
    expect(summaryText(died, units)).toBe('754 ms · died');
  });

  it('details components with their method, RAM and the grid used', () => {
    const rows = Object.fromEntries(detailRows(trace, units));
    expect(rows.CPU).toBe('36.1 J — modelled (CPU TDP × CPU time)');
    expect(rows.RAM).toBe('0.0304 J — modelled (0.375 W/GB × RSS × time)');
    expect(rows.GPU).toBeUndefined();
    expect(rows['Peak RAM']).toBe('139 MiB');
    expect(rows.Grid).toBe('481 g/kWh (WORLD, from default)');
    expect(rows['CPU TDP']).toBe('85 W (default)');
    expect(rows.RAPL).toBe('unavailable: no powercap directory at /sys/class/powercap');
  });

  it('marks GPU work only when the GPU drew energy', () => {
    expect(usedGpu(trace)).toBe(false);
    const energy = { ...PROXY_RECORD.energy, gpu: { joules: 12.5, method: 'nvml-energy' } };
    const gpuTrace = parseCellTrace({ ...PROXY_RECORD, energy })!;
    expect(usedGpu(gpuTrace)).toBe(true);
    expect(Object.fromEntries(detailRows(gpuTrace, units)).GPU).toBe('12.5 J — measured (NVML energy counter)');
    const idle = parseCellTrace({ ...PROXY_RECORD, energy: { ...energy, gpu: { joules: 0, method: 'nvml-energy' } } })!;
    expect(usedGpu(idle)).toBe(false);
  });

  it('says "GPU idle" when the kernel only held memory on an idle GPU', () => {
    const held = { joules: 3.2, method: 'nvml-energy', low_j: 3.0, high_j: 3.5, activity: 'idle' };
    const heldTrace = parseCellTrace({ ...PROXY_RECORD, energy: { ...PROXY_RECORD.energy, gpu: held } })!;
    expect(usedGpu(heldTrace)).toBe(false);
    expect(gpuMark(heldTrace)).toBe('GPU idle');
    expect(Object.fromEntries(detailRows(heldTrace, units)).GPU).toBe(
      '3.2 J (3 J – 3.5 J) — measured (NVML energy counter), memory held on an idle GPU'
    );
    const work = parseCellTrace({
      ...PROXY_RECORD,
      energy: { ...PROXY_RECORD.energy, gpu: { ...held, activity: 'active' } }
    })!;
    expect(gpuMark(work)).toBe('GPU');
    expect(gpuMark(trace)).toBeNull();
  });

  it('shows every error band, the combined one and the notes', () => {
    const energy = {
      ...PROXY_RECORD.energy,
      cpu: { joules: 36.125, method: 'tdp-model', low_j: 18.0625, high_j: 54.1875 },
      total_low_j: 18.06,
      total_high_j: 54.2,
      co2e_low_g: 0.0024,
      co2e_high_g: 0.0072,
      notes: ['part of the CPU time is read in clock ticks', 42]
    };
    const rows = detailRows(parseCellTrace({ ...PROXY_RECORD, energy })!, units);
    const byLabel = Object.fromEntries(rows);
    expect(byLabel.CPU).toBe('36.1 J (18.1 J – 54.2 J) — modelled (CPU TDP × CPU time)');
    expect(byLabel.Total).toBe('36.2 J (18.1 J – 54.2 J)');
    expect(byLabel['CO₂e']).toBe('4.83 mg CO₂e (2.4 mg CO₂e – 7.2 mg CO₂e)');
    expect(rows.filter(([k]) => k === 'Note')).toEqual([['Note', 'part of the CPU time is read in clock ticks']]);
    // A record from before bands existed reads as it did.
    expect(Object.fromEntries(detailRows(trace, units)).Total).toBe('36.2 J');
  });
});

describe('the status-bar summary', () => {
  it('shows totals and the latest verdict', () => {
    const totals = summarise([trace, trace]);
    expect(summaryLine(totals, 'failed', DEFAULT_SETTINGS)).toBe('⚡ 72.3 J · 9.65 mg CO₂e · policy FAILED');
    expect(summaryLine(totals, null, DEFAULT_SETTINGS)).toBe('⚡ 72.3 J · 9.65 mg CO₂e');
    expect(summaryLine(summarise([]), 'passed', DEFAULT_SETTINGS)).toBe('⚡ no energy records · policy PASSED');
  });
});

describe('settings', () => {
  it('falls back to the defaults for values out of range', () => {
    expect(readSettings({})).toEqual(DEFAULT_SETTINGS);
    expect(readSettings({ energyUnit: 'BTU', showBadges: 'yes', dashboardUrl: '  ' })).toEqual(DEFAULT_SETTINGS);
    expect(readSettings({ energyUnit: 'kWh', carbonUnit: 'kg', showBadges: false }).energyUnit).toBe('kWh');
  });
});
