import { startDistribution } from '../helpers/distribution.js';
import { startServe } from '../helpers/serve.js';

/** A registry to run the same integration tests against: Debian's docker-registry or `regctl serve`. */
export interface Backend {
  registry: string;
  /** Requests the registry answered (serve only; docker-registry keeps no such log here). */
  requests?: Array<{ method: string; path: string; status: number }>;
  close(): Promise<void>;
}

export interface BackendKind {
  name: string;
  start(): Promise<Backend>;
}

// Both always run: a missing docker-registry or a broken serve helper fails the tests that use them.
export const BACKEND_KINDS: BackendKind[] = [
  { name: 'docker-registry', start: () => startDistribution() },
  { name: 'regctl serve', start: () => startServe() },
];
