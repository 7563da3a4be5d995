// Galata (Playwright) against Debian's chromium. tests/test_lab_extension.py
// runs this with a private Jupyter environment: VL_LAB_PORT, VL_LAB_ROOT,
// JUPYTER_PATH (the proxied kernelspec) and VL_LAB_FIXTURES.
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

const port = process.env.VL_LAB_PORT ?? '8888';
const baseURL = `http://127.0.0.1:${port}`;

module.exports = {
  ...baseConfig,
  testDir: './ui-tests',
  reporter: [['list']],
  timeout: 180000,
  expect: { timeout: 30000 },
  workers: 1,
  retries: 0,
  use: {
    ...baseConfig.use,
    baseURL,
    video: 'off',
    trace: 'off',
    viewport: { width: 1280, height: 900 },
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync'
      ]
    }
  },
  webServer: {
    command: 'jupyter lab --config ui-tests/jupyter_server_test_config.py',
    url: `${baseURL}/lab`,
    timeout: 120000,
    reuseExistingServer: false,
    // SIGTERM lets Jupyter shut its kernels down; a SIGKILLed server would
    // leave them to notice on their own (the proxy polls its parent).
    gracefulShutdown: { signal: 'SIGTERM', timeout: 10000 },
    stdout: 'pipe',
    stderr: 'pipe'
  }
};
