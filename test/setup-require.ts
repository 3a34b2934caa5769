/**
 * Lets `require()` load TypeScript inside vitest, as `node -r tsx/cjs` does in production. The code loads
 * heavy modules lazily with `require('./x') as typeof import('./x')` (so `lookout --help` or the dispatcher
 * never load sharp, onnxruntime or every cloud client); without this hook those calls fail under vitest, and
 * `await import()` — which vitest would resolve — fails under tsx/cjs in production.
 */
import { register } from 'tsx/cjs/api';

register();
