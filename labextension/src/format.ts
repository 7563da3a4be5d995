/**
 * Number formatting for badges, tooltips and the status bar. Pure functions:
 * the unit tests run them without a browser.
 */

export type EnergyUnit = 'auto' | 'J' | 'Wh' | 'kWh';
export type CarbonUnit = 'auto' | 'mg' | 'g' | 'kg';

const J_PER_WH = 3600;

/** Three significant digits, without exponent notation for everyday sizes. */
export function sig(value: number, digits = 3): string {
  if (!Number.isFinite(value)) {
    return '—';
  }
  if (value === 0) {
    return '0';
  }
  const magnitude = Math.abs(value);
  if (magnitude >= 1e-3 && magnitude < 1e6) {
    // toPrecision, then drop the trailing zeros it keeps ("1.20" -> "1.2").
    const text = value.toPrecision(digits);
    return text.includes('e') ? String(Number(text)) : text.replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  }
  return value.toExponential(digits - 1);
}

/** Joules in the chosen unit; `auto` keeps J up to 1 Wh, then Wh, then kWh. */
export function formatEnergy(joules: number, unit: EnergyUnit = 'auto'): string {
  const chosen = unit === 'auto' ? (joules < J_PER_WH ? 'J' : joules < 1000 * J_PER_WH ? 'Wh' : 'kWh') : unit;
  switch (chosen) {
    case 'J':
      return `${sig(joules)} J`;
    case 'Wh':
      return `${sig(joules / J_PER_WH)} Wh`;
    case 'kWh':
      return `${sig(joules / (1000 * J_PER_WH))} kWh`;
  }
}

/** Grams of CO2e in the chosen unit; `auto` picks mg below 1 g and kg from 1000 g. */
export function formatCarbon(grams: number, unit: CarbonUnit = 'auto'): string {
  const chosen = unit === 'auto' ? (grams < 1 ? 'mg' : grams < 1000 ? 'g' : 'kg') : unit;
  switch (chosen) {
    case 'mg':
      return `${sig(grams * 1000)} mg CO₂e`;
    case 'g':
      return `${sig(grams)} g CO₂e`;
    case 'kg':
      return `${sig(grams / 1000)} kg CO₂e`;
  }
}

/** Wall time: ms below a second, then s, then m s, then h m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) {
    return '—';
  }
  if (seconds < 1) {
    return `${Math.round(seconds * 1000)} ms`;
  }
  if (seconds < 60) {
    return `${sig(seconds)} s`;
  }
  const whole = Math.round(seconds);
  if (whole < 3600) {
    return `${Math.floor(whole / 60)} m ${whole % 60} s`;
  }
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} m`;
}

/** Bytes as MiB or GiB (binary units, as `free -h` and the dashboard show). */
export function formatBytes(bytes: number): string {
  const mib = bytes / 2 ** 20;
  return mib < 1024 ? `${sig(mib)} MiB` : `${sig(mib / 1024)} GiB`;
}

/** "36.1 J (18.1 J – 54.2 J)": a figure with its error band, when it has one. */
export function formatEnergyBand(
  joules: number,
  low: number | undefined,
  high: number | undefined,
  unit: EnergyUnit = 'auto'
): string {
  const value = formatEnergy(joules, unit);
  return low === undefined || high === undefined
    ? value
    : `${value} (${formatEnergy(low, unit)} – ${formatEnergy(high, unit)})`;
}

/** How a method reads for someone who does not know the agent's names. */
export function describeMethod(method: string): string {
  switch (method) {
    case 'rapl':
      return 'measured (RAPL counters)';
    case 'os-energy':
      return 'measured (energy macOS attributes to the process)';
    case 'nvml-energy':
      return 'measured (NVML energy counter)';
    case 'nvml-power':
      return 'measured (NVML power, integrated)';
    case 'tdp-model':
      return 'modelled (CPU TDP × CPU time)';
    case 'ram-model':
      return 'modelled (0.375 W/GB × RSS × time)';
    default:
      return method;
  }
}
