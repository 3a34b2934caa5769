/**
 * A pixel budget shared by concurrent decodes: a semaphore weighted by width x height. A decoder's memory
 * grows with the pixels it decodes (a 100-megapixel PNG is a 300 MB raster, plus libvips' working
 * buffers), and a worker is handed objects regardless of their size, so the number of decodes in flight
 * is the wrong thing to bound; their pixels are the right one.
 *
 * Fair in arrival order: a waiting large image is not overtaken by small ones (it would starve). A request
 * larger than the whole budget waits until nothing else holds any of it and then runs alone; refusing it
 * would fail an image that LOOKOUT_MAX_PIXELS admits.
 */
export class PixelBudget {
  private used = 0;
  private highWater = 0;
  private readonly queue: Array<{ pixels: number; grant: () => void }> = [];
  private static readonly instances = new Map<number, PixelBudget>();

  constructor(readonly total: number) {
    if (!(total > 0)) throw new RangeError(`pixel budget must be positive, got ${total}`);
  }

  /** One budget per process for a given total: every decode of the worker shares it. */
  static shared(total: number): PixelBudget {
    let b = PixelBudget.instances.get(total);
    if (!b) PixelBudget.instances.set(total, (b = new PixelBudget(total)));
    return b;
  }

  /** Pixels held now. */
  get inUse(): number {
    return this.used;
  }

  /** Most pixels ever held at once. */
  get peak(): number {
    return this.highWater;
  }

  /** Requests waiting. */
  get waiting(): number {
    return this.queue.length;
  }

  private fits(pixels: number): boolean {
    return this.used === 0 || this.used + pixels <= this.total;
  }

  private take(pixels: number): () => void {
    this.used += pixels;
    this.highWater = Math.max(this.highWater, this.used);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= pixels;
      this.drain();
    };
  }

  private drain(): void {
    while (this.queue.length > 0 && this.fits(this.queue[0].pixels)) this.queue.shift()!.grant();
  }

  /** Waits until `pixels` fit, then holds them; call the returned function to give them back. */
  acquire(pixels: number): Promise<() => void> {
    const p = Math.max(0, Math.ceil(pixels));
    if (this.queue.length === 0 && this.fits(p)) return Promise.resolve(this.take(p));
    return new Promise((resolve) => this.queue.push({ pixels: p, grant: () => resolve(this.take(p)) }));
  }

  /** Runs `fn` holding `pixels` of the budget, giving them back however it ends. */
  async run<T>(pixels: number, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(pixels);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
