/**
 * Dynamic batching, in the spirit of Triton's dynamic_batching: concurrent
 * requests for the same model are gathered into one inference run, bounded by
 * a maximum batch size and a maximum queue delay. Results go back to their own
 * callers; when a batch fails, its items are re-run one by one so a single bad
 * input fails only its own request.
 */
export interface BatchOptions {
  /** Largest batch handed to the model (1 disables batching). */
  maxBatchSize: number;
  /** How long the first request of a batch may wait for company. */
  maxQueueDelayMs: number;
  /** Batches run at once (1 keeps the cores for intra-op parallelism). */
  maxInflight?: number;
}

export interface BatchResult<O> {
  output: O;
  batchSize: number;
  /** Wall time of the inference run this item was part of. */
  inferenceMs: number;
  /** Time the item waited in the queue before its batch started. */
  queueMs: number;
}

interface Pending<I, O> {
  item: I;
  enqueuedAt: number;
  resolve: (r: BatchResult<O>) => void;
  reject: (e: unknown) => void;
}

export class DynamicBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight = 0;
  private readonly maxInflight: number;
  /** Counters for benchmarks and status. */
  readonly stats = { batches: 0, items: 0, maxSeen: 0 };

  constructor(
    private readonly opts: BatchOptions,
    private readonly runBatch: (items: I[]) => Promise<O[]>,
  ) {
    if (!(opts.maxBatchSize >= 1)) throw new Error('maxBatchSize must be >= 1');
    this.maxInflight = opts.maxInflight ?? 1;
  }

  submit(item: I): Promise<BatchResult<O>> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, enqueuedAt: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inflight >= this.maxInflight || this.queue.length === 0) return;
    if (this.queue.length >= this.opts.maxBatchSize || this.opts.maxQueueDelayMs <= 0) {
      this.flush();
      return;
    }
    if (!this.timer) {
      const waited = performance.now() - this.queue[0].enqueuedAt;
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.opts.maxQueueDelayMs - waited));
    }
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.inflight >= this.maxInflight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.opts.maxBatchSize);
    this.inflight++;
    void this.execute(batch).finally(() => {
      this.inflight--;
      this.schedule();
    });
  }

  private async execute(batch: Pending<I, O>[]): Promise<void> {
    const started = performance.now();
    this.stats.batches++;
    this.stats.items += batch.length;
    this.stats.maxSeen = Math.max(this.stats.maxSeen, batch.length);
    try {
      const outs = await this.runBatch(batch.map((p) => p.item));
      if (outs.length !== batch.length)
        throw new Error(`model returned ${outs.length} results for a batch of ${batch.length}`);
      const inferenceMs = performance.now() - started;
      batch.forEach((p, i) =>
        p.resolve({ output: outs[i], batchSize: batch.length, inferenceMs, queueMs: started - p.enqueuedAt }),
      );
    } catch (err) {
      if (batch.length === 1) {
        batch[0].reject(err);
        return;
      }
      // Isolate the failure: each item alone, so only the bad one fails.
      for (const p of batch) {
        const t0 = performance.now();
        try {
          const [out] = await this.runBatch([p.item]);
          p.resolve({
            output: out,
            batchSize: 1,
            inferenceMs: performance.now() - t0,
            queueMs: started - p.enqueuedAt,
          });
        } catch (e) {
          p.reject(e);
        }
      }
    }
  }
}
