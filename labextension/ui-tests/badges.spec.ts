/**
 * The extension in a real JupyterLab and Notebook 7, with the proxied kernel
 * (tests/test_lab_extension.py prepares the server and the files and checks
 * the saved notebooks against the evidence trail afterwards).
 */
import { expect, galata, test } from '@jupyterlab/galata';
import type { Locator, Page } from '@playwright/test';
import * as path from 'path';

const FIXTURES = process.env.VL_LAB_FIXTURES ?? '';
const SHOTS = process.env.VL_SCREENSHOTS;
const FILES = ['lab_demo.ipynb', 'policy.yaml', 'applicants.csv'];

// The saved notebooks are read by the Python side after this run.
test.use({ serverFiles: 'on' });

async function upload(page: Page, tmpPath: string, notebookName = 'lab_demo.ipynb'): Promise<void> {
  expect(FIXTURES, 'VL_LAB_FIXTURES names the prepared files').not.toBe('');
  for (const name of FILES) {
    const target = name === 'lab_demo.ipynb' ? notebookName : name;
    await page.contents.uploadFile(path.join(FIXTURES, name), `${tmpPath}/${target}`);
  }
}

async function shot(locator: Locator | Page, name: string): Promise<void> {
  if (SHOTS) {
    await locator.screenshot({ path: path.join(SHOTS, name) });
  }
}

/** The joules a badge's text shows, e.g. "1.02 s · 43.5 J · 20.9 mg CO₂e". */
function joules(text: string): number {
  const match = /· ([\d.]+) J ·/.exec(text);
  expect(match, `a J figure in "${text}"`).not.toBeNull();
  return Number(match![1]);
}

async function expectBadgesAndResults(page: Page): Promise<void> {
  const cells = page.locator('.jp-Notebook .jp-CodeCell');
  await expect(cells).toHaveCount(4);
  // Every executed cell has its badge; the CPU burn's shows real energy.
  await expect(page.locator('.jp-Notebook .vl-cell-badge')).toHaveCount(4);
  const burn = cells.nth(1).locator('.vl-cell-badge-text');
  await expect(burn).toHaveText(/^[\d.]+ m?s · [\d.]+ J · [\d.]+ mg CO₂e$/);
  expect(joules(await burn.innerText())).toBeGreaterThan(10);
  // The %%vl_monitor result through the energy renderer.
  await expect(cells.nth(2).locator('.vl-monitor')).toContainText('training');
  // The compliance renderer: the overall verdict and the failing control.
  const compliance = cells.nth(3).locator('.vl-compliance');
  await expect(compliance.locator('.vl-compliance-header .vl-pill')).toHaveText('FAILED');
  await expect(compliance.locator('tr[data-control="gender-di"] .vl-pill')).toHaveText('FAIL');
  await expect(compliance.locator('tr[data-control="gender-di"]')).toContainText('0.5');
  await expect(compliance.locator('tr[data-control="class-balance"] .vl-pill')).toHaveText('PASS');
  await expect(compliance.locator('img.vl-compliance-chart')).toBeVisible();
}

test('energy badges, the compliance renderer and the summary survive a reload', async ({ page, tmpPath }) => {
  await upload(page, tmpPath);
  await page.notebook.openByPath(`${tmpPath}/lab_demo.ipynb`);
  await page.notebook.activate('lab_demo.ipynb');
  await page.notebook.run();
  await expectBadgesAndResults(page);

  // The expander gives the components, their method and the grid intensity.
  const burnBadge = page.locator('.jp-Notebook .jp-CodeCell').nth(1).locator('.vl-cell-badge');
  await burnBadge.locator('summary').click();
  const details = burnBadge.locator('.vl-cell-badge-details');
  await expect(details).toContainText('modelled (CPU TDP × CPU time)');
  await expect(details).toContainText('g/kWh');
  await expect(details).toContainText('Peak RAM');
  // Each component and the total carry their error band (±50 % for the TDP model).
  await expect(details.locator('tr', { hasText: 'Total' })).toHaveText(/J \([\d.]+ J – [\d.]+ J\)/);

  const summary = page.locator('.vl-summary');
  await expect(summary).toContainText('policy FAILED');
  await expect(summary).toHaveText(/^⚡ [\d.]+ J · [\d.]+ mg CO₂e · policy FAILED$/);

  await shot(page.locator('.jp-Notebook .jp-CodeCell').nth(1), 'lab_badge.png');
  await shot(page.locator('.jp-Notebook .jp-CodeCell').nth(3), 'lab_compliance.png');
  await shot(page, 'lab_notebook.png');

  await page.notebook.save();
  // The restored layout reopens the notebook (Galata would wait for the Launcher).
  await page.reload({ waitForIsReady: false });
  await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
  await expect(page.locator('.jp-NotebookPanel')).toHaveCount(1);
  // Nothing re-ran: the badges come back from the saved cell metadata.
  await expectBadgesAndResults(page);
  await expect(page.locator('.vl-summary')).toContainText('policy FAILED');
});

test.describe('settings', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      'venturalitica-jupyterlab:plugin': { energyUnit: 'Wh', carbonUnit: 'g', badgePosition: 'below-output' }
    }
  });

  test('units and position follow the settings', async ({ page, tmpPath }) => {
    await upload(page, tmpPath, 'settings.ipynb');
    await page.notebook.openByPath(`${tmpPath}/settings.ipynb`);
    await page.notebook.activate('settings.ipynb');
    await page.notebook.runCell(1);
    const cell = page.locator('.jp-Notebook .jp-CodeCell').nth(1);
    await expect(cell.locator('.vl-cell-badge-text')).toHaveText(/^[\d.]+ m?s · [\d.]+ Wh · [\d.]+ g CO₂e$/);
    // below-output: the badge is the cell's last child, after the outputs.
    await expect(cell.locator('> .vl-cell-badge')).toHaveCount(1);
  });
});

test.describe('hidden badges', () => {
  test.use({
    mockSettings: { ...galata.DEFAULT_SETTINGS, 'venturalitica-jupyterlab:plugin': { showBadges: false } }
  });

  test('hiding the badges still keeps the records in the cells', async ({ page, tmpPath }) => {
    await upload(page, tmpPath, 'hidden.ipynb');
    await page.notebook.openByPath(`${tmpPath}/hidden.ipynb`);
    await page.notebook.activate('hidden.ipynb');
    await page.notebook.runCell(1);
    await expect(page.locator('.vl-summary')).toHaveText(/^⚡ [\d.]+ J · [\d.]+ mg CO₂e$/);
    await expect(page.locator('.vl-cell-badge')).toHaveCount(0);
    const record = await page.evaluate(() => {
      const panel = (window as any).galata.app.shell.currentWidget;
      return panel.content.widgets[1].model.getMetadata('venturalitica');
    });
    expect(record.status).toBe('ok');
    expect(record.energy.total_j).toBeGreaterThan(10);
  });
});

test('a plain kernel shows no badge and nothing breaks', async ({ page }) => {
  await page.notebook.createNew('plain.ipynb', { kernel: 'python3' });
  await page.notebook.setCell(0, 'code', 'print(6 * 7)');
  await page.notebook.runCell(0);
  const cell = page.locator('.jp-Notebook .jp-CodeCell').first();
  await expect(cell.locator('.jp-OutputArea-output')).toHaveText('42');
  await expect(cell.locator('.vl-cell-badge')).toHaveCount(0);
  await expect(page.locator('.vl-summary')).toHaveText('⚡ no energy records');
});

test('Notebook 7 shows the badges and the renderers too', async ({ page, tmpPath, baseURL }) => {
  await upload(page, tmpPath, 'notebook7.ipynb');
  // A plain page: Galata's own waits for JupyterLab, which this is not.
  const nb7 = await page.context().newPage();
  await nb7.goto(`${baseURL}/notebooks/${tmpPath}/notebook7.ipynb`);
  await expect(nb7.locator('.jp-Notebook .jp-CodeCell')).toHaveCount(4);
  // Run All before the kernel has started is dropped: wait for it to be idle.
  await expect
    .poll(async () => {
      const sessions = await (await nb7.request.get(`${baseURL}/api/sessions`)).json();
      const ours = sessions.find((s: any) => s.path.endsWith('notebook7.ipynb'));
      return ours?.kernel?.execution_state;
    })
    .toBe('idle');
  // Notebook 7 has Lab's menus: Run > Run All Cells.
  await nb7.locator('.lm-MenuBar-itemLabel', { hasText: /^Run$/ }).click();
  await nb7.locator('.lm-Menu-itemLabel', { hasText: /^Run All Cells$/ }).click();
  await expectBadgesAndResults(nb7);
  await shot(nb7, 'notebook7.png');
});

test.describe('the dashboard link', () => {
  const dashboardUrl = process.env.VL_DASHBOARD_URL ?? '';
  test.use({
    mockSettings: { ...galata.DEFAULT_SETTINGS, 'venturalitica-jupyterlab:plugin': { dashboardUrl } }
  });

  test('a click on the summary opens the running dashboard', async ({ page, tmpPath }) => {
    expect(dashboardUrl, 'VL_DASHBOARD_URL names the running `venturalitica ui`').not.toBe('');
    await upload(page, tmpPath, 'dashboard.ipynb');
    await page.notebook.openByPath(`${tmpPath}/dashboard.ipynb`);
    const popup = page.waitForEvent('popup');
    await page.locator('.vl-summary').click();
    const dashboard = await popup;
    await dashboard.waitForLoadState();
    expect(dashboard.url()).toBe(dashboardUrl);
    await expect(dashboard).toHaveTitle(/Venturalitica/);
  });
});

test.describe('no dashboard', () => {
  test.use({
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      // Port 9 (discard) refuses connections here: nothing is listening.
      'venturalitica-jupyterlab:plugin': { dashboardUrl: 'http://127.0.0.1:9/' }
    }
  });

  test('a click says how to start the dashboard instead', async ({ page, tmpPath }) => {
    await upload(page, tmpPath, 'nodashboard.ipynb');
    await page.notebook.openByPath(`${tmpPath}/nodashboard.ipynb`);
    await page.locator('.vl-summary').click();
    await expect(page.locator('.jp-Notification-Toast-warning')).toContainText(
      'no dashboard answers at http://127.0.0.1:9'
    );
  });
});
