/** Milliseconds on a monotonic clock; not performance.now(), whose global loads perf_hooks (~1.3 ms of start-up). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}
