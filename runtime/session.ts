/** onnxruntime sessions, with the execution provider chosen by pool. */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { Pool } from '../config';
import { SetupError } from '../core/errors';

export interface LoadedSession {
  session: ort.InferenceSession;
  executionProvider: 'cpu' | 'cuda';
}

export function onnxruntimeVersion(): string {
  return ort.env.versions?.node ?? 'unknown';
}

export interface SessionOptions {
  pool: Pool;
  /** Intra-op threads (default: the machine's cores). */
  threads?: number;
}

export async function createSession(modelPath: string, opts: SessionOptions): Promise<LoadedSession> {
  const threads = opts.threads ?? os.availableParallelism();
  if (opts.pool === 'gpu') {
    try {
      const session = await ort.InferenceSession.create(modelPath, {
        executionProviders: ['cuda'],
        graphOptimizationLevel: 'all',
      });
      return { session, executionProvider: 'cuda' };
    } catch (err) {
      throw new SetupError(
        'ExecutionProviderUnavailable',
        `the gpu pool needs onnxruntime's CUDA execution provider, which could not be loaded (${(err as Error).message}). ` +
          'Install onnxruntime-node with its CUDA binaries (run its install script with --onnxruntime-node-install=cuda12 on a machine with CUDA 12 and cuDNN 9; npm 11 needs the script allowed), or run this worker with --pool cpu.',
        err,
      );
    }
  }
  const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    // No busy-waiting between ops: the worker shares the cores with sharp, Temporal's core and, on the
    // embedded stack, the servers; spinning threads made 2-thread inference slower than 1 thread under load.
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  });
  return { session, executionProvider: 'cpu' };
}
