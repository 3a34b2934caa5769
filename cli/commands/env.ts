/** `lookout env` */
import type { Command } from '../command';
import { envLines } from '../../config';

export const envCommand: Command = {
  spec: {
    name: 'env',
    summary: "print every endpoint and name a client needs, as export KEY='VALUE' lines (shell-quoted)",
    usage: 'env',
    description: `Point any standard client at the running system, e.g.:
  eval "$(lookout env)"   # exports them all; then client libraries, curl, python, node
Variables Lookout reads (unset = embedded stack): LOOKOUT_GCS_ENDPOINT, LOOKOUT_BIGQUERY_ENDPOINT, LOOKOUT_NATS_URL,
LOOKOUT_TEMPORAL_ADDRESS, LOOKOUT_GCP_PROJECT, LOOKOUT_BUCKET, LOOKOUT_RESULTS_BUCKET, LOOKOUT_BIGQUERY_DATASET,
LOOKOUT_BIGQUERY_TABLE, LOOKOUT_NATS_STREAM, LOOKOUT_TEMPORAL_NAMESPACE, LOOKOUT_WORKFLOW_QUEUE, LOOKOUT_PIPELINE,
LOOKOUT_GPU_STAGES, LOOKOUT_GPU_FALLBACK_MS, LOOKOUT_PORT_BASE, LOOKOUT_HOME, LOOKOUT_TOOLS_DIR, LOOKOUT_MAX_OBJECT_BYTES,
LOOKOUT_MAX_PIXELS, LOOKOUT_PUSH_AUDIENCE, LOOKOUT_PUSH_TOKEN.`,
    options: {},
  },
  run: async (cfg) => {
    for (const l of envLines(cfg)) console.log(l);
  },
};
