import { defineConfig } from 'vitest/config';

// Unit tests only; ui-tests/ is Galata's (npx playwright test).
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], environment: 'node' }
});
