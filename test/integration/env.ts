/**
 * The integration tests' own embedded stack: its own state folder and ports, so a running `lookout up` is untouched.
 * LOOKOUT_TEST_PORT_BASE moves it, so that two checkouts on one machine can run their suites at once.
 */
import path from 'node:path';

export const TEST_ENV: Record<string, string> = {
  LOOKOUT_HOME: path.resolve(__dirname, '..', '..', '.lookout', 'test-stack'),
  LOOKOUT_PORT_BASE: process.env.LOOKOUT_TEST_PORT_BASE || '27200',
  LOOKOUT_GPU_FALLBACK_MS: '1500',
};
