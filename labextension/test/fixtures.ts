/** A record as the proxy writes it (taken from a real run of the tutorial). */
export const PROXY_RECORD = {
  cell_id: 'c0ffee',
  msg_id: '513d946b-00f7840f8d5b000d2f620a82_8845_2',
  session: '513d946b-00f7840f8d5b000d2f620a82',
  execution_count: 1,
  code_sha256: 'd9472611b14124f2d826db21fe49855a5a755dda095c5be6e96d280eb0c04259',
  silent: false,
  start: '2026-11-27T00:51:42.001599Z',
  end: '2026-11-27T00:51:42.755492Z',
  duration_s: 0.753892383,
  status: 'ok',
  energy: {
    wall_s: 0.753348205,
    cpu_s: 0.85,
    cpu: { joules: 36.125, method: 'tdp-model' },
    ram: { joules: 0.030360149161317122, method: 'ram-model' },
    total_j: 36.15536014916132,
    kwh: 1.0043155596989254e-5,
    co2e_g: 0.0048267405799130355,
    peak_rss_bytes: 146096128,
    mean_rss_bytes: 107467433,
    basis: {
      grid: { code: 'WORLD', g_per_kwh: 480.6, source: 'this table', origin: 'default' },
      pue: { value: 1.0, origin: 'default' },
      cpu_tdp: { watts: 85.0, origin: 'default', model: 'AMD EPYC', matched: null },
      logical_cpus: 2,
      rapl: { unavailable: 'no powercap directory at /sys/class/powercap' }
    }
  },
  mode: 'proxy'
};
