/**
 * The status-bar item: the current notebook's total energy and CO2e, and the
 * latest policy verdict. A click opens the dashboard when it is running.
 */

import { Widget } from '@lumino/widgets';

import { summaryLine } from './badge';
import type { NotebookBadges } from './badges';
import type { Settings } from './settings';
import { summarise } from './trace';

export class SessionSummary extends Widget {
  private source: NotebookBadges | null = null;

  constructor(
    private settings: Settings,
    private readonly openDashboard: () => void
  ) {
    super();
    this.addClass('vl-summary');
    this.node.title = 'Venturalitica: this notebook’s energy and latest policy result. Click to open the dashboard.';
    this.node.addEventListener('click', () => this.openDashboard());
    this.refresh();
  }

  /** Follows another notebook (or none). */
  follow(source: NotebookBadges | null): void {
    this.source?.changed.disconnect(this.refresh, this);
    this.source = source;
    source?.changed.connect(this.refresh, this);
    this.refresh();
  }

  updateSettings(settings: Settings): void {
    this.settings = settings;
    this.refresh();
  }

  private refresh(): void {
    const source = this.source;
    if (!source || source.isDisposed) {
      this.node.textContent = '⚡ —';
      this.node.dataset.policy = '';
      return;
    }
    const policy = source.latestPolicy();
    this.node.textContent = summaryLine(summarise(source.traces()), policy, this.settings);
    this.node.dataset.policy = policy ?? '';
  }
}
