import { createRegistryClient } from '../registry/open.js';
import type { RetagRepository } from './repository.js';

/** Handed to the registry client: --verbose request log, environment for config and credentials. */
export interface RegistryClientOptions {
  verbose?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** One client for all repositories of a command, so connections and tokens are shared. */
export function repositoryOpener(opts: RegistryClientOptions = {}): (registry: string, name: string) => RetagRepository {
  const client = createRegistryClient({ verbose: opts.verbose, env: opts.env });
  return (registry, name) => client.repository(registry, name);
}
