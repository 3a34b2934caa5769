/** `lookout demo` */
import type { Command } from '../command';
import { uploadFiles, waitForRows, printRun } from '../runs';
import { runCctvDemo } from '../demo-cctv';

export const demoCommand: Command = {
  spec: {
    name: 'demo',
    summary:
      'the main job on the embedded stack: sample images, CCTV anomaly detection on vtest.avi, a satellite change pair; prints the rows read back from BigQuery',
    usage: 'demo [--timeout-s N] [--no-cctv] [--no-satellite] [--every N]',
    description: `1. Starts the embedded stack (\`lookout up\`).
2. Uploads real sample photos and vtest.avi frames from Debian's opencv-doc, plus two bad objects (a truncated JPEG,
   a text file), with the official GCS client (pipeline "objects"), and prints their rows.
3. CCTV (pipeline "cctv-anomaly", method cctv-attributes): fits scene "vtest" on frames 0-499 of vtest.avi, uploads
   frames 500-794 as a video, which is analysed in segments of consecutive frames (tracks); prints the most anomalous
   frames with their reasons and where their annotated JPEGs are.
4. Satellite (pipeline "raster"): Landsat 7 L7_ETMs.tif (Debian r-cran-stars) as the before acquisition and a copy with a
   constructed burn scar as the after one, in 32-px chips; prints the summary rows and the most changed chips with
   their WGS 84 footprints. \`lookout ui\` then shows the runs, the CCTV alerts and the map.
The stack stays up; \`lookout down\` stops it.`,
    options: {
      'timeout-s': { type: 'number', default: 900, help: 'give up waiting for rows after this long' },
      cctv: { type: 'boolean', default: true, help: 'run the CCTV part (--no-cctv: skip it)' },
      satellite: { type: 'boolean', default: true, help: 'run the satellite part (--no-satellite: skip it)' },
      every: { type: 'number', default: 1, help: 'CCTV: analyse every Nth frame' },
    },
  },
  run: async (cfg, { opts }) => {
    const path = require('node:path') as typeof import('node:path');
    const { up } = require('../../infra/stack') as typeof import('../../infra/stack');
    const { prepareSamples } = require('../../demo/samples') as typeof import('../../demo/samples');
    const stamp = new Date()
      .toISOString()
      .replace(/[-:.TZ]/g, '')
      .slice(0, 14);
    console.log('1/4 starting the embedded stack');
    await up(cfg, { apps: true, log: (l) => console.log(`  ${l}`) });
    const samples = prepareSamples(path.join(cfg.home, 'samples'));
    const run = `demo-${stamp}`;
    console.log(`2/4 images: uploading ${samples.length} objects (run ${run})`);
    await uploadFiles(cfg, samples, `demo/${run}/`, { 'lookout-run': run });
    const n = await waitForRows(cfg, run, samples.length, Number(opts['timeout-s']) * 1000);
    console.log(
      `\nResults of run ${run}, read back from BigQuery (${cfg.gcp.projectId}.${cfg.bigquery.dataset}.${cfg.bigquery.table}_latest):\n`,
    );
    const rows = await printRun(cfg, run);
    const ok = rows.filter((r) => r.status === 'ok').length;
    console.log(
      `\n${rows.length}/${samples.length} objects have a row: ${ok} ok, ${rows.length - ok} failed (the two bad objects are expected to fail).`,
    );
    let code = n >= samples.length ? 0 : 4;
    if (opts.cctv) {
      console.log('\n3/4 CCTV anomaly detection on vtest.avi');
      code = Math.max(
        code,
        await runCctvDemo(cfg, { stamp, every: Number(opts.every), timeoutMs: Number(opts['timeout-s']) * 1000 }),
      );
    }
    if (opts.satellite) {
      console.log('\n4/4 satellite: before / after change on a Landsat 7 scene');
      const { runRasterDemo } = require('../demo-raster') as typeof import('../demo-raster');
      code = Math.max(code, await runRasterDemo(cfg, { stamp, timeoutMs: Number(opts['timeout-s']) * 1000 }));
    }
    console.log(
      '\nThe stack is still up: `lookout ui` (review in a browser), `lookout results`, `lookout status`, `lookout env`; stop it with `lookout down`.',
    );
    return code;
  },
};
