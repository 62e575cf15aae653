import type { RetagRepository } from './repository.js';

/** Handed to the registry client: --verbose request log, environment for config and credentials. */
export interface RegistryClientOptions {
  verbose?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

interface RegistryModule {
  createRegistryClient(opts?: RegistryClientOptions): {
    repository(registry: string, name: string): RetagRepository;
  };
}

// A variable specifier keeps this module type-checking before src/registry/open.ts lands.
const REGISTRY_MODULE = '../registry/open.js';

/** One client for all repositories of a command, so connections and tokens are shared. */
export async function repositoryOpener(opts: RegistryClientOptions = {}): Promise<(registry: string, name: string) => RetagRepository> {
  const mod = (await import(REGISTRY_MODULE)) as RegistryModule;
  const client = mod.createRegistryClient(opts);
  return (registry, name) => client.repository(registry, name);
}
