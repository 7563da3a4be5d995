/** Opening the `venturalitica ui` dashboard from JupyterLab. */

import { Notification } from '@jupyterlab/apputils';

/**
 * Opens the dashboard in a new tab if it answers. The probe is a `no-cors`
 * request: its body cannot be read across origins, but a refused connection
 * still fails, which is all that is needed to tell "not running".
 */
export async function openDashboard(url: string): Promise<void> {
  let base: URL;
  try {
    base = new URL(url);
  } catch {
    Notification.error(`Venturalitica: the dashboard URL setting "${url}" is not a URL.`);
    return;
  }
  try {
    await fetch(new URL('api/head', base), { mode: 'no-cors', cache: 'no-store' });
  } catch {
    Notification.warning(
      `Venturalitica: no dashboard answers at ${base.origin}. Start it with \`venturalitica ui\` in the project.`,
      { autoClose: 8000 }
    );
    return;
  }
  window.open(base.href, '_blank', 'noopener');
}
