/** OpenAPI 3.1 description of `lookout serve` (served at GET /openapi.json). */
const box = {
  type: 'object',
  required: ['x', 'y', 'w', 'h'],
  properties: { x: { type: 'number' }, y: { type: 'number' }, w: { type: 'number' }, h: { type: 'number' } },
  description: 'pixels in the frame: top-left corner, width, height',
};
const object = {
  type: 'object',
  properties: {
    label: { type: 'string' },
    detectorScore: { type: 'number' },
    anomalyScore: { type: ['number', 'null'] },
    box,
  },
};
const error = {
  type: 'object',
  required: ['status', 'error'],
  properties: { status: { type: 'integer' }, error: { type: 'string' } },
};
const json = (schema: object, description: string) => ({ description, content: { 'application/json': { schema } } });

export const SERVE_OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'Lookout frame API',
    version: '1',
    description:
      "Synchronous analysis of one CCTV frame triplet (the reference service's shape): upload KEY, KEY_d3 (frame t-3) and KEY_p3 (frame t+3) to the bucket, then POST the KEY. The analysis runs through Temporal on the workers and is recorded in BigQuery like any other.",
  },
  paths: {
    '/v1/frames': {
      post: {
        summary: 'Analyse frame KEY of a triplet already in the bucket',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['key'],
                properties: {
                  key: { type: 'string', description: 'object name of frame t', maxLength: 1024 },
                  bucket: { type: 'string', description: 'default: the inbox bucket' },
                  scene: {
                    type: 'string',
                    pattern: '^[a-z0-9][a-z0-9_-]{0,62}$',
                    description: "scene model; default: the server's --scene",
                  },
                },
              },
            },
          },
        },
        responses: {
          '200': json(
            {
              type: 'object',
              properties: {
                status: { const: 200 },
                workflowId: { type: 'string' },
                scene: { type: 'string' },
                sceneVersion: { type: ['integer', 'null'] },
                frameScore: { type: ['number', 'null'] },
                threshold: { type: ['number', 'null'] },
                abnormal: { type: 'array', items: object },
                objects: { type: 'array', items: object },
                annotated: { type: ['string', 'null'], description: 'gs:// URI of the annotated JPEG' },
              },
            },
            'the frame score and the abnormal objects',
          ),
          '400': json(error, 'bad request, or a neighbour frame (KEY_d3 / KEY_p3) is missing'),
          '401': json(error, 'missing or wrong bearer token (when the server has LOOKOUT_SERVE_TOKEN)'),
          '404': json(error, 'KEY does not exist'),
          '409': json({ type: 'object' }, 'no scene model fitted for the scene (fit one with lookout fit)'),
          '413': json(error, 'request body over 64 KiB'),
          '422': json({ type: 'object' }, 'the frame is not a usable image'),
          '503': json(error, 'the stack is unavailable, or the analysis broke off'),
          '504': json(error, "the analysis is still running after the server's timeout"),
        },
      },
    },
    '/healthz': { get: { summary: 'liveness', responses: { '200': json({ type: 'object' }, 'up') } } },
    '/openapi.json': {
      get: { summary: 'this description', responses: { '200': json({ type: 'object' }, 'OpenAPI 3.1') } },
    },
  },
  // Required on every path but /healthz when the server has LOOKOUT_SERVE_TOKEN (always, beyond loopback).
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  security: [{ bearer: [] }, {}],
} as const;
