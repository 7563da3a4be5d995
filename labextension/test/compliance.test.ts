import { describe, expect, it } from 'vitest';

import { readCompliance, thresholdText, valueText } from '../src/compliance';
import { monitorParts, readMonitor } from '../src/energy';
import { PROXY_RECORD, RESULTS } from './fixtures';

const RESULT = {
  passed: false,
  summary: { total: 2, passed: 1, failed: 1, errors: 0 },
  policy: { path: 'policy.yaml', title: 'Loan <b>policy</b>' },
  data: { source: 'applicants.csv' },
  controls: [
    {
      id: 'gender-di',
      metric_key: 'disparate_impact',
      operator: '>=',
      threshold: 0.8,
      actual_value: 0.5,
      status: 'fail',
      enforcement_mode: 'block',
      ci: { lower: 0.41, upper: 0.6123, level: 0.95 },
      reason: '0.5 is not >= 0.8',
      groups: [
        { group: 'female', n: 200, positives: 80, rates: { positive_rate: 0.4 } },
        { group: 'male', n: 200, positives: 160, rates: { positive_rate: 0.8 } }
      ]
    },
    { id: 'broken', metric_key: 'accuracy_score', operator: '>=', threshold: 0.7, actual_value: null, status: 'odd' }
  ]
};

describe('readCompliance', () => {
  it('reads verdict, counts and controls', () => {
    const result = readCompliance(RESULT);
    expect(result.passed).toBe(false);
    expect(result.title).toBe('Loan <b>policy</b>');
    expect(result.summary).toEqual({ total: 2, passed: 1, failed: 1, errors: 0, inconclusive: 0 });
    const [di, broken] = result.controls;
    expect(di.groups.map(g => [g.group, g.rates.positive_rate])).toEqual([
      ['female', 0.4],
      ['male', 0.8]
    ]);
    expect(valueText(di)).toBe('0.5 [0.41, 0.612]');
    expect(thresholdText(di)).toBe('>= 0.8');
    // An unknown status is shown as an error, never as a pass.
    expect(broken.status).toBe('error');
    expect(valueText(broken)).toBe('—');
  });

  it("reads the agent's own results document whole", () => {
    const result = readCompliance(RESULTS);
    expect(result.title).toBe('Loan credit scoring - data policy');
    expect(result.source).toBe('german_credit.csv');
    expect(result.controls.map(c => [c.id, c.status, c.mode])).toEqual([
      ['credit-class-balance', 'pass', 'block'],
      ['credit-gender-disparity', 'pass', 'block'],
      ['credit-age-disparity', 'fail', 'block']
    ]);
    expect(result.summary).toEqual({ total: 3, passed: 2, failed: 1, errors: 0, inconclusive: 0 });
    expect(thresholdText(result.controls[1])).toBe('>= 0.8');
  });

  it('reads an inconclusive control, its count and the rows that settle it', () => {
    const controls = [
      ...RESULT.controls,
      {
        id: 'age-di',
        metric_key: 'disparate_impact',
        operator: '>=',
        threshold: 0.8,
        actual_value: 0.7948,
        status: 'inconclusive',
        decision: 'interval',
        rows_needed: 363900,
        ci: { lower: 0.6896, upper: 0.894, level: 0.95 },
        reason: 'straddles >= 0.8'
      },
      { id: 'future', status: 'some-later-status', metric_key: 'm', operator: '>=', threshold: 1 }
    ];
    const result = readCompliance({ ...RESULT, controls, summary: undefined });
    const age = result.controls.find(c => c.id === 'age-di');
    expect(age?.status).toBe('inconclusive');
    expect(age?.rowsNeeded).toBe(363900);
    expect(result.summary.inconclusive).toBe(1);
    // A status this version does not know is never shown as a pass.
    expect(result.controls.find(c => c.id === 'future')?.status).toBe('error');
  });

  it('names a policy without a title by its file', () => {
    const result = readCompliance({ ...RESULT, policy: { path: '/work/project/policies/loan.yaml' } });
    expect(result.title).toBe('loan.yaml');
  });

  it('refuses what is not a result', () => {
    expect(() => readCompliance({ controls: [] })).toThrow(/not a Venturalitica compliance result/);
    expect(() => readCompliance('PASSED')).toThrow();
  });
});

describe('readMonitor', () => {
  it('lays out the monitor report', () => {
    const parts = Object.fromEntries(
      monitorParts(readMonitor({ name: 'fit', error: null, energy: PROXY_RECORD.energy }))
    );
    expect(parts.time).toBe('753 ms');
    expect(parts.energy).toBe('36.2 J');
    expect(parts['CO₂e']).toBe('4.83 mg CO₂e');
  });

  it('shows why a block was not measured and refuses junk', () => {
    expect(monitorParts(readMonitor({ name: 'fit', error: 'no agent', energy: null }))).toEqual([
      ['not measured', 'no agent']
    ]);
    expect(() => readMonitor({ name: 'fit' })).toThrow(/no "energy" report/);
  });
});
