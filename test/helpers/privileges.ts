const NOBODY = 65534;

/**
 * Root ignores permission bits, and CI runs as root: there, run `fn` with the effective uid and
 * gid of nobody, so a permission failure can be staged. Only the effective ids change (glibc
 * applies them to every thread, libuv's included); the real ids stay root, which is what allows
 * switching back. Vitest runs each file in its own process (pool: forks) and the caller awaits
 * `fn` alone, so nothing else in the process runs as nobody meanwhile. Not root: `fn` as is.
 */
export async function asNobody<T>(fn: () => Promise<T>): Promise<T> {
  if (process.geteuid?.() !== 0) return fn();
  process.setegid!(NOBODY);
  process.seteuid!(NOBODY);
  try {
    return await fn();
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
  }
}
