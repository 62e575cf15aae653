import type { Streams } from './output.js';

/**
 * Ctrl-C. The process has one SIGINT handler (installInterruptExit, from runMain): when no
 * command is listening it prints one line and exits 130 at once. A command that can stop
 * cleanly (cancel its upload sessions, remove partial files) takes the first Ctrl-C with
 * `interruptible()` and fails with an InterruptedError (exit 130) once it has cleaned up; a
 * second Ctrl-C finds nobody listening and exits at once.
 */
export interface Interruptible {
  signal: AbortSignal;
  /** Stop listening (the command is done): Ctrl-C exits at once again. */
  release(): void;
}

export function interruptible(streams: Streams): Interruptible {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  process.once('SIGINT', abort);
  const external = streams.interrupt;
  if (external?.aborted) abort();
  else external?.addEventListener('abort', abort, { once: true });
  return {
    signal: controller.signal,
    release() {
      process.off('SIGINT', abort);
      external?.removeEventListener('abort', abort);
    },
  };
}

/** The real process only: SIGINT with no command listening exits 130 with one line. */
export function installInterruptExit(stderr: NodeJS.WritableStream & { isTTY?: boolean }): void {
  const onSigint = (): void => {
    // Another listener is a command (or `serve`) that stops cleanly on this Ctrl-C.
    if (process.listenerCount('SIGINT') > 1) return;
    // On a terminal the line starts after the "^C" the terminal echoed.
    stderr.write(`${stderr.isTTY ? '\n' : ''}error: interrupted\n`);
    process.exit(130);
  };
  process.on('SIGINT', onSigint);
}
