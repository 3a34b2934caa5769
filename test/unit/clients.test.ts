/**
 * The Google clients of the embedded stack never look for application default credentials: with none configured
 * that search ends in a probe of the GCE metadata server, which prints a MetadataLookupWarning in every process
 * (three in `npm run demo`) where no metadata server exists.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { pubsubClient } from '../../io/clients';

describe('Pub/Sub client on the emulator', () => {
  it('answers google-gax with its own placeholder auth client, so no credential search (and no metadata probe) starts', async () => {
    const cfg = loadConfig({ LOOKOUT_PORT_BASE: '40990' }); // embedded stack: pstest is the Pub/Sub
    expect(cfg.pubsub.url).toBeTruthy();
    const ps = pubsubClient(cfg);
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      const client = (await ps.auth.getClient()) as unknown as { credentials: { access_token?: string } };
      expect(client.credentials.access_token).toBe('pubsub-emulator');
      expect(await ps.auth.getUniverseDomain()).toBe('googleapis.com');
    } finally {
      process.off('warning', onWarning);
      await ps.close();
    }
    expect(warnings.filter((w) => w.startsWith('MetadataLookupWarning'))).toEqual([]);
  });
});
