/**
 * Dispatcher.stop() called while run() is still setting up its consumer (SIGTERM right after a pod starts: the
 * Helm chart's probes make that ordinary). The consumer is faked; its setup is held open until stop() has run.
 */
import type { Client } from '@temporalio/client';
import type { NatsConnection } from 'nats';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { Dispatcher, DISPATCHER_DEFAULTS } from '../../dispatch/dispatcher';

/** A consumer's message iterator that yields nothing until close() (as a quiet stream does). */
function idleMessages() {
  let release: (() => void) | undefined;
  const closed = new Promise<void>((r) => (release = r));
  let isClosed = false;
  return {
    closeCalls: 0,
    async close() {
      this.closeCalls++;
      isClosed = true;
      release?.();
    },
    [Symbol.asyncIterator]() {
      return {
        next: async () =>
          isClosed ? { done: true, value: undefined } : closed.then(() => ({ done: true, value: undefined })),
      };
    },
  };
}

describe('Dispatcher.stop during start-up', () => {
  it('run() returns when stop() came before the consumer existed', async () => {
    let openSetup: () => void = () => {};
    const setupHeld = new Promise<void>((r) => (openSetup = r));
    const messages = idleMessages();
    const nc = {
      jetstreamManager: async () => ({
        consumers: {
          info: async () => {
            await setupHeld;
            return {};
          },
          update: async () => ({}),
          add: async () => ({}),
        },
      }),
      jetstream: () => ({ consumers: { get: async () => ({ consume: async () => (consumeCalls++, messages) }) } }),
    } as unknown as NatsConnection;
    let consumeCalls = 0;
    const d = new Dispatcher(nc, {} as Client, loadConfig({}), {
      ...DISPATCHER_DEFAULTS,
      pipelineOptions: { gpuStages: [], gpuFallbackMs: 1000 },
    });
    let returned = false;
    const running = d.run().then(() => (returned = true));
    await d.stop(); // SIGTERM: no consumer yet to close
    openSetup();
    // Positive signal: run() resolves; a bounded wait, so a regression fails here instead of hanging the suite.
    await Promise.race([running, new Promise((r) => setTimeout(r, 5000))]);
    expect(returned).toBe(true);
    // It never starts consuming: a consume() closed before its first pull did not end the loop on real NATS.
    expect(consumeCalls).toBe(0);
    expect(messages.closeCalls).toBe(0);
  });

  it('run() returns when stop() came while consume() was being set up: the new consumer is closed', async () => {
    let openConsume: () => void = () => {};
    const consumeHeld = new Promise<void>((r) => (openConsume = r));
    let consumeStarted: () => void = () => {};
    const inConsume = new Promise<void>((r) => (consumeStarted = r));
    const messages = idleMessages();
    const nc = {
      jetstreamManager: async () => ({
        consumers: { info: async () => ({}), update: async () => ({}), add: async () => ({}) },
      }),
      jetstream: () => ({
        consumers: {
          get: async () => ({
            consume: async () => {
              consumeStarted();
              await consumeHeld;
              return messages;
            },
          }),
        },
      }),
    } as unknown as NatsConnection;
    const d = new Dispatcher(nc, {} as Client, loadConfig({}), {
      ...DISPATCHER_DEFAULTS,
      pipelineOptions: { gpuStages: [], gpuFallbackMs: 1000 },
    });
    let returned = false;
    const running = d.run().then(() => (returned = true));
    await inConsume;
    await d.stop();
    openConsume();
    await Promise.race([running, new Promise((r) => setTimeout(r, 5000))]);
    expect(returned).toBe(true);
    expect(messages.closeCalls).toBe(1);
  });
});
