/**
 * venturalitica-jupyterlab: per-cell energy badges, the session summary and
 * the dashboard command. The MIME renderers are a separate entry (mime.ts).
 * Works in JupyterLab 4 and Notebook 7; the status bar is optional because
 * Notebook 7 has none.
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';

import { NotebookBadges } from './badges';
import { ReplyCapture } from './capture';
import { openDashboard } from './dashboard';
import { DEFAULT_SETTINGS, readSettings, Settings } from './settings';
import { SessionSummary } from './summary';

const PLUGIN_ID = 'venturalitica-jupyterlab:plugin';
const OPEN_DASHBOARD = 'venturalitica:open-dashboard';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Per-cell energy and carbon badges and the Venturalitica session summary',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ISettingRegistry, IStatusBar, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    registry: ISettingRegistry | null,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null
  ) => {
    let settings: Settings = DEFAULT_SETTINGS;
    const views = new Map<NotebookPanel, NotebookBadges>();

    app.commands.addCommand(OPEN_DASHBOARD, {
      label: 'Open the Venturalitica dashboard',
      execute: () => openDashboard(settings.dashboardUrl)
    });
    palette?.addItem({ command: OPEN_DASHBOARD, category: 'Venturalitica' });

    const summary = statusBar ? new SessionSummary(settings, () => app.commands.execute(OPEN_DASHBOARD)) : null;
    if (statusBar && summary) {
      statusBar.registerStatusItem('venturalitica-jupyterlab:summary', {
        item: summary,
        align: 'left',
        rank: 5,
        isActive: () => tracker.currentWidget !== null
      });
    }

    tracker.widgetAdded.connect((_, panel) => {
      const capture = new ReplyCapture(panel);
      const attach = () => {
        if (panel.isDisposed) {
          return;
        }
        const badges = new NotebookBadges(panel, settings);
        views.set(panel, badges);
        if (tracker.currentWidget === panel) {
          summary?.follow(badges);
        }
      };
      // The model (and its cells) exists once the context is ready.
      void panel.context.ready.then(attach);
      panel.disposed.connect(() => {
        capture.dispose();
        views.get(panel)?.dispose();
        views.delete(panel);
      });
    });
    tracker.currentChanged.connect((_, panel) => summary?.follow(panel ? (views.get(panel) ?? null) : null));

    if (registry) {
      void registry
        .load(PLUGIN_ID)
        .then(loaded => {
          const apply = () => {
            settings = readSettings(loaded.composite as Record<string, unknown>);
            for (const view of views.values()) {
              view.updateSettings(settings);
            }
            summary?.updateSettings(settings);
          };
          loaded.changed.connect(apply);
          apply();
        })
        .catch(reason => console.error('venturalitica-jupyterlab: settings could not be loaded', reason));
    }
  }
};

export default plugin;
