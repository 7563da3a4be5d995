import { describe, expect, it } from 'vitest';

import { describeMethod, formatBytes, formatCarbon, formatDuration, formatEnergy, sig } from '../src/format';

describe('sig', () => {
  it('keeps three significant digits and drops trailing zeros', () => {
    expect(sig(36.155)).toBe('36.2');
    expect(sig(1.2)).toBe('1.2');
    expect(sig(100)).toBe('100');
    expect(sig(0.00483)).toBe('0.00483');
    expect(sig(0)).toBe('0');
  });
  it('uses exponents only outside everyday sizes', () => {
    expect(sig(1.234e-5)).toBe('1.23e-5');
    expect(sig(2.5e7)).toBe('2.50e+7');
  });
  it('shows a dash for what is not a number', () => {
    expect(sig(Number.NaN)).toBe('—');
    expect(sig(Number.POSITIVE_INFINITY)).toBe('—');
  });
});

describe('formatEnergy', () => {
  it('converts with 3600 J per Wh', () => {
    expect(formatEnergy(36.155, 'J')).toBe('36.2 J');
    expect(formatEnergy(3600, 'Wh')).toBe('1 Wh');
    expect(formatEnergy(36, 'Wh')).toBe('0.01 Wh');
    expect(formatEnergy(7.2e6, 'kWh')).toBe('2 kWh');
  });
  it('auto keeps J below 1 Wh, then Wh, then kWh', () => {
    expect(formatEnergy(3599, 'auto')).toBe('3600 J');
    expect(formatEnergy(3600, 'auto')).toBe('1 Wh');
    expect(formatEnergy(3.6e6, 'auto')).toBe('1 kWh');
  });
});

describe('formatCarbon', () => {
  it('converts grams to mg, g and kg', () => {
    expect(formatCarbon(0.0048267, 'mg')).toBe('4.83 mg CO₂e');
    expect(formatCarbon(0.0048267, 'g')).toBe('0.00483 g CO₂e');
    expect(formatCarbon(2500, 'kg')).toBe('2.5 kg CO₂e');
  });
  it('auto picks mg below 1 g and kg from 1000 g', () => {
    expect(formatCarbon(0.5)).toBe('500 mg CO₂e');
    expect(formatCarbon(1)).toBe('1 g CO₂e');
    expect(formatCarbon(1000)).toBe('1 kg CO₂e');
  });
});

describe('formatDuration', () => {
  it('shows ms, s, minutes and hours', () => {
    expect(formatDuration(0.753892)).toBe('754 ms');
    expect(formatDuration(1.0503)).toBe('1.05 s');
    expect(formatDuration(125)).toBe('2 m 5 s');
    expect(formatDuration(7260)).toBe('2 h 1 m');
    expect(formatDuration(-1)).toBe('—');
  });
});

describe('formatBytes and describeMethod', () => {
  it('uses binary units', () => {
    expect(formatBytes(146096128)).toBe('139 MiB');
    expect(formatBytes(3 * 2 ** 30)).toBe('3 GiB');
  });
  it('says which methods are measured and which modelled', () => {
    expect(describeMethod('rapl')).toMatch(/^measured/);
    expect(describeMethod('nvml-power')).toMatch(/^measured/);
    expect(describeMethod('os-energy')).toMatch(/^measured/);
    expect(describeMethod('tdp-model')).toMatch(/^modelled/);
    expect(describeMethod('something-new')).toBe('something-new');
  });
});
