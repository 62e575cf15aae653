import { distributionAvailable, startDistribution } from '../helpers/distribution.js';

/** A registry to run the same integration tests against: Debian's docker-registry or `regctl serve`. */
export interface Backend {
  registry: string;
  /** Requests the registry answered (serve only; docker-registry keeps no such log here). */
  requests?: Array<{ method: string; path: string; status: number }>;
  close(): Promise<void>;
}

export interface BackendKind {
  name: string;
  /** Why it is skipped, or undefined when it can run. */
  skip?: string;
  start(): Promise<Backend>;
}

// A variable specifier: the server helper lands separately; until then its backend is skipped.
const SERVE_HELPER = '../helpers/serve.js';

interface ServeModule {
  startServe(opts?: { memory?: boolean }): Promise<Backend & { requests: Backend['requests'] }>;
}

async function loadServe(): Promise<ServeModule | undefined> {
  try {
    return (await import(SERVE_HELPER)) as ServeModule;
  } catch {
    return undefined;
  }
}

export async function backendKinds(): Promise<BackendKind[]> {
  const serve = await loadServe();
  return [
    {
      name: 'docker-registry',
      ...(distributionAvailable() ? {} : { skip: '/usr/bin/docker-registry not installed (apt-get install -y docker-registry): skipping' }),
      start: () => startDistribution(),
    },
    {
      name: 'regctl serve',
      ...(serve ? {} : { skip: 'test/helpers/serve.ts is not available yet: skipping' }),
      start: () => serve!.startServe(),
    },
  ];
}
