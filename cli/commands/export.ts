/** `lookout export` */
import type { Command } from '../command';

export const exportCommand: Command = {
  spec: {
    name: 'export',
    summary:
      'export the chips of a raster run as GeoJSON (a FeatureCollection of chip footprints with their scores, read from the rows)',
    usage: 'export --geojson RUN [--out FILE] [--json]',
    options: {
      geojson: { type: 'string', arg: 'RUN', help: 'run tag whose raster chip rows to export (row run_tag)' },
      out: { type: 'string', arg: 'FILE', help: 'write the FeatureCollection here (default: stdout)' },
      json: { type: 'boolean', help: 'with --out: print a JSON line with the counts instead of text' },
    },
  },
  run: async (cfg, { opts }) => {
    if (!opts.geojson) throw new Error('--geojson RUN is required (the run tag of the uploads or backfill)');
    const fs = require('node:fs') as typeof import('node:fs');
    const { bigqueryClient } = require('../../io/clients') as typeof import('../../io/clients');
    const { query } = require('../../io/query') as typeof import('../../io/query');
    const { runLatestSql } = require('../../io/results') as typeof import('../../io/results');
    const { featureCollectionFromRows } =
      require('../../methods/raster-change/geojson') as typeof import('../../methods/raster-change/geojson');
    const run = String(opts.geojson);
    const rows = await query<import('../../methods/raster-change/geojson').ChipRowLike>(
      bigqueryClient(cfg),
      `SELECT name, generation, status, error_class, score, raster FROM (${runLatestSql(cfg)}) WHERE raster.kind = 'chip' ORDER BY name, raster.chip_row, raster.chip_col`,
      { run },
    );
    const fc = featureCollectionFromRows(rows, { run, chips: rows.length });
    const text = JSON.stringify(fc);
    const placed = fc.features.filter((f) => f.geometry).length;
    if (opts.out) {
      fs.writeFileSync(String(opts.out), text + '\n');
      if (opts.json)
        console.log(
          JSON.stringify({ run, file: String(opts.out), features: fc.features.length, placed, bbox: fc.bbox ?? null }),
        );
      else console.log(`wrote ${fc.features.length} chips (${placed} with a footprint) of run ${run} to ${opts.out}`);
    } else {
      process.stdout.write(text + '\n');
    }
    return fc.features.length > 0 ? 0 : 4;
  },
};
