import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/**
 * How a bcrypt worker thread gets bcryptjs: the file URL of the installed package, to import.
 * The single executable (src/build/sea.mjs) has no package files on disk: its build replaces
 * this module with one that returns bcryptjs's CommonJS source, which the worker evaluates.
 */
export type BcryptForWorker = { url: string } | { source: string };

export function bcryptForWorker(): BcryptForWorker {
  return { url: pathToFileURL(createRequire(import.meta.url).resolve('bcryptjs')).href };
}
