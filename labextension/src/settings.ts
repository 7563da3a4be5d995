/** The extension's settings (schema/plugin.json), with their defaults. */

import type { CarbonUnit, EnergyUnit } from './format';

export type BadgePosition = 'below-input' | 'below-output';

export interface Settings {
  energyUnit: EnergyUnit;
  carbonUnit: CarbonUnit;
  badgePosition: BadgePosition;
  showBadges: boolean;
  dashboardUrl: string;
}

export const DEFAULT_SETTINGS: Settings = {
  energyUnit: 'auto',
  carbonUnit: 'auto',
  badgePosition: 'below-input',
  showBadges: true,
  dashboardUrl: 'http://127.0.0.1:8501/'
};

const ENERGY_UNITS: readonly string[] = ['auto', 'J', 'Wh', 'kWh'];
const CARBON_UNITS: readonly string[] = ['auto', 'mg', 'g', 'kg'];
const POSITIONS: readonly string[] = ['below-input', 'below-output'];

function pick<T extends string>(value: unknown, allowed: readonly string[], fallback: T): T {
  return typeof value === 'string' && allowed.includes(value) ? (value as T) : fallback;
}

/** Reads the composite settings; anything out of range falls back to the default. */
export function readSettings(composite: Record<string, unknown>): Settings {
  return {
    energyUnit: pick(composite.energyUnit, ENERGY_UNITS, DEFAULT_SETTINGS.energyUnit),
    carbonUnit: pick(composite.carbonUnit, CARBON_UNITS, DEFAULT_SETTINGS.carbonUnit),
    badgePosition: pick(composite.badgePosition, POSITIONS, DEFAULT_SETTINGS.badgePosition),
    showBadges: typeof composite.showBadges === 'boolean' ? composite.showBadges : DEFAULT_SETTINGS.showBadges,
    dashboardUrl:
      typeof composite.dashboardUrl === 'string' && composite.dashboardUrl.trim() !== ''
        ? composite.dashboardUrl.trim()
        : DEFAULT_SETTINGS.dashboardUrl
  };
}
