/** `lookout zones` */
import type { Command } from '../command';

const USAGE = 'zones get SCENE [--json] | zones set SCENE --file zones.json [--json] | zones clear SCENE [--json]';

export const zonesCommand: Command = {
  spec: {
    name: 'zones',
    summary: "show, set or clear a CCTV scene's zones and rules (no-entry, loitering, direction, speed-limit)",
    usage: USAGE,
    positionals: { min: 2, max: 2, name: 'ACTION SCENE' },
    description: `Zones are polygons on the camera's frame in normalised coordinates (x, y in 0..1 from the top-left
corner), each with rules evaluated on the tracks of the cctv-anomaly pipeline at every object's foot point;
a rule broken is an alert row with the rule as its reason (docs/cctv-zones.md). Every set or clear is a new
version in gs://<results bucket>/models/scenes/<scene>/zones/; workers use the newest from the next video segment.
The review UI draws the same zones on a frame of the camera (Zones page).
Exit codes: 0 done, 1 failure (a zones file that is not valid says every problem), 2 usage.`,
    options: {
      file: { type: 'string', arg: 'FILE', help: 'set: the zones file (JSON: { "zones": [ … ] })' },
      json: { type: 'boolean', help: 'print the result as JSON' },
    },
  },
  run: async (cfg, { opts, positionals }) => {
    const [action, scene] = positionals;
    if (!['get', 'set', 'clear'].includes(action)) {
      console.error(
        `lookout zones: unknown action ${JSON.stringify(action)} (get, set or clear)\nUsage: lookout ${USAGE}`,
      );
      return 2;
    }
    if (action === 'set' && !opts.file) {
      console.error(`lookout zones set: --file FILE is required\nUsage: lookout ${USAGE}`);
      return 2;
    }
    const fs = require('node:fs') as typeof import('node:fs');
    const { checkScene } = require('../../io/scenes') as typeof import('../../io/scenes');
    const { detectorLabels } = require('../../methods/registry') as typeof import('../../methods/registry');
    const { loadZones, saveZones, zonesStore, zonesUri } = require('../../io/zones') as typeof import('../../io/zones');
    const { describeRule, ZonesError } = require('../../runtime/zones') as typeof import('../../runtime/zones');
    const { storageClient } = require('../../io/clients') as typeof import('../../io/clients');
    checkScene(scene);
    const store = zonesStore(storageClient(cfg), cfg.gcs.resultsBucket);
    if (action === 'get') {
      const z = await loadZones(store, scene);
      const zones = z?.doc.zones ?? [];
      if (opts.json) {
        console.log(
          JSON.stringify({ scene, version: z?.version ?? null, uri: zonesUri(cfg.gcs.resultsBucket, scene), zones }),
        );
        return 0;
      }
      console.log(
        z
          ? `scene ${scene}: ${zones.length} zone(s), version ${z.version} (${zonesUri(cfg.gcs.resultsBucket, scene)}${z.version}/zones.json)`
          : `scene ${scene}: no zones (none set in ${zonesUri(cfg.gcs.resultsBucket, scene)})`,
      );
      for (const zone of zones)
        console.log(
          `  ${JSON.stringify(zone.name)}  ${zone.points.length} points  ${zone.rules.map(describeRule).join('; ')}`,
        );
      return 0;
    }
    let input: unknown = { zones: [] };
    if (action === 'set') {
      const file = String(opts.file);
      let text: string;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        console.error(`lookout zones: cannot read ${file}: ${(err as Error).message}`);
        return 1;
      }
      try {
        input = JSON.parse(text);
      } catch (err) {
        console.error(`lookout zones: ${file} is not JSON: ${(err as Error).message}`);
        return 1;
      }
    }
    let saved;
    try {
      saved = await saveZones(store, scene, input, detectorLabels(cfg.projectRoot));
    } catch (err) {
      if (!(err instanceof ZonesError)) throw err;
      console.error(`lookout zones: ${opts.file ?? 'zones'} is not a valid zones file:`);
      for (const p of err.problems) console.error(`  - ${p}`);
      return 1;
    }
    if (opts.json)
      console.log(JSON.stringify({ scene, version: saved.version, uri: saved.uri, zones: saved.doc.zones }));
    else
      console.log(
        action === 'clear'
          ? `scene ${scene}: zones cleared (version ${saved.version}, ${saved.uri})`
          : `scene ${scene}: ${saved.doc.zones.length} zone(s) saved as version ${saved.version} (${saved.uri})`,
      );
    return 0;
  },
};
