import { defineConfig } from 'vitest/config';
import { TEST_ENV } from './test/integration/env';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          setupFiles: ['test/setup-require.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          // Before each file: a fresh bigquery-emulator once the old one has grown too big (see the file).
          setupFiles: ['test/setup-require.ts', 'test/integration/fresh-emulator.ts'],
          env: TEST_ENV,
          testTimeout: 180_000,
          hookTimeout: 300_000,
          // The files share one embedded stack: run them one after another.
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
