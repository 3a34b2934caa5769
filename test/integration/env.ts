/** The integration tests' own embedded stack: its own state folder and ports, so a running `lookout up` is untouched. */
import path from 'node:path';

export const TEST_ENV: Record<string, string> = {
  LOOKOUT_HOME: path.resolve(__dirname, '..', '..', '.lookout', 'test-stack'),
  LOOKOUT_PORT_BASE: '27200',
  LOOKOUT_GPU_FALLBACK_MS: '1500',
};
