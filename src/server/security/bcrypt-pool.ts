import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { RegctlError } from '../../errors.js';
import { bcryptForWorker, type BcryptForWorker } from './bcrypt-module.js';

/**
 * bcrypt compares on a small pool of worker threads. A compare costs 20-2000 ms of CPU; on the
 * main thread a burst of wrong passwords stalls every other request. The queue is bounded:
 * when it is full (or one client already has its share queued) the compare is refused at once
 * with BcryptBusyError, which the front door answers with 503 + Retry-After.
 *
 * The worker is built from a code string (`eval: true`) that imports bcryptjs by the absolute
 * path resolved here, so it works the same from src/, dist/ and the bundled CLI whatever their layout;
 * in the single executable, which has no files but itself, it evaluates bcryptjs's CommonJS source.
 */

export class BcryptBusyError extends RegctlError {
  constructor() {
    super('AUTH_BUSY', 'too many logins are being checked; retry shortly', { exitCode: 1 });
  }
}

export interface BcryptPoolOptions {
  /** Worker threads. Default: one fewer than the cores, at least 1, at most 2. */
  size?: number;
  /** Compares waiting for a worker, in all. Default 32 per worker. */
  maxQueued?: number;
  /** Compares waiting or running per group (a client address). Default 4. */
  maxPerGroup?: number;
}

/** Nice value of the worker threads (Linux): below the thread that serves requests. */
const WORKER_NICE = 10;

// Only dynamic import(): the code then runs whether Node takes it as CommonJS or as an ES module
// (a worker inherits execArgv, e.g. --input-type=module). Messages wait on the port until the
// listener is attached.
const WORKER_CODE = `
(async () => {
  const { parentPort, workerData } = await import('node:worker_threads');
  let mod;
  if (workerData.bcrypt.source !== undefined) {
    const crypto = await import('node:crypto');
    const module = { exports: {} };
    new Function('exports', 'module', 'require', workerData.bcrypt.source)(module.exports, module, () => crypto);
    mod = module.exports;
  } else {
    mod = await import(workerData.bcrypt.url);
  }
  const bcrypt = mod.default ?? mod;
  // On Linux the nice value is per thread: checking passwords yields the CPU to serving requests.
  // (Elsewhere setpriority would lower the whole process, so it is left alone.)
  if (process.platform === 'linux') {
    try { (await import('node:os')).setPriority(workerData.nice); } catch {}
  }
  parentPort.on('message', (m) => {
    let ok = false;
    try { ok = bcrypt.compareSync(m.password, m.hash); } catch { ok = false; }
    parentPort.postMessage({ id: m.id, ok });
  });
})();
`;

interface Job {
  id: number;
  password: string;
  hash: string;
  group: string | undefined;
  resolve(ok: boolean): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker | undefined;
  job: Job | undefined;
}

export class BcryptPool {
  private readonly size: number;
  private readonly maxQueued: number;
  private readonly maxPerGroup: number;
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private readonly perGroup = new Map<string, number>();
  private nextId = 1;
  private bcrypt: BcryptForWorker | undefined;

  constructor(options: BcryptPoolOptions = {}) {
    this.size = options.size ?? Math.max(1, Math.min(2, availableParallelism() - 1));
    this.maxQueued = options.maxQueued ?? 32 * this.size;
    this.maxPerGroup = options.maxPerGroup ?? 4;
    if (!(this.size >= 1) || !(this.maxQueued >= 0) || !(this.maxPerGroup >= 1)) throw new RangeError('invalid bcrypt pool settings');
    this.slots = Array.from({ length: this.size }, () => ({ worker: undefined, job: undefined }));
  }

  /** Compare off the main thread; rejects with BcryptBusyError when the queue is full. */
  compare(password: string, hash: string, group?: string): Promise<boolean> {
    if (group !== undefined && (this.perGroup.get(group) ?? 0) >= this.maxPerGroup) return Promise.reject(new BcryptBusyError());
    const free = this.slots.find((s) => s.job === undefined);
    if (!free && this.queue.length >= this.maxQueued) return Promise.reject(new BcryptBusyError());
    return new Promise<boolean>((resolve, reject) => {
      const job: Job = { id: this.nextId++, password, hash, group, resolve, reject };
      if (group !== undefined) this.perGroup.set(group, (this.perGroup.get(group) ?? 0) + 1);
      if (free) this.run(free, job);
      else this.queue.push(job);
    });
  }

  /** Compares queued or running (for tests and metrics). */
  get pending(): number {
    return this.queue.length + this.slots.filter((s) => s.job).length;
  }

  /** Stop the workers; queued compares fail. */
  async close(): Promise<void> {
    for (const job of this.queue.splice(0)) this.settle(job, new BcryptBusyError());
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        s.worker = undefined;
        if (s.job) this.settle(s.job, new BcryptBusyError());
        s.job = undefined;
        await w?.terminate();
      }),
    );
  }

  private run(slot: Slot, job: Job): void {
    slot.job = job;
    const worker = slot.worker ?? this.spawn(slot);
    worker.ref();
    worker.postMessage({ id: job.id, password: job.password, hash: job.hash });
  }

  private spawn(slot: Slot): Worker {
    this.bcrypt ??= bcryptForWorker();
    const worker = new Worker(WORKER_CODE, { eval: true, workerData: { bcrypt: this.bcrypt, nice: WORKER_NICE } });
    slot.worker = worker;
    worker.on('message', (m: { id: number; ok: boolean }) => {
      const job = slot.job;
      if (!job || job.id !== m.id) return;
      this.settle(job, m.ok === true);
      this.next(slot);
    });
    // A worker that dies (out of memory, killed) fails its compare and is replaced on next use.
    const lost = (error: Error) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      const job = slot.job;
      if (job) this.settle(job, error);
      this.next(slot);
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new RegctlError('AUTH_WORKER', `password check worker exited (${code})`)));
    return worker;
  }

  private next(slot: Slot): void {
    slot.job = undefined;
    const job = this.queue.shift();
    if (job) this.run(slot, job);
    // An idle pool must not keep the process alive.
    else slot.worker?.unref();
  }

  private settle(job: Job, result: boolean | Error): void {
    if (job.group !== undefined) {
      const n = (this.perGroup.get(job.group) ?? 1) - 1;
      if (n <= 0) this.perGroup.delete(job.group);
      else this.perGroup.set(job.group, n);
    }
    if (typeof result === 'boolean') job.resolve(result);
    else job.reject(result);
  }
}

let shared: BcryptPool | undefined;

/** One pool per process: the CPU it guards is shared by every htpasswd file. */
export function sharedBcryptPool(): BcryptPool {
  shared ??= new BcryptPool();
  return shared;
}
