import { ConfigStore } from '../config/store.js';
import { credentialChain } from '../config/credentials.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import type { RetagRepository } from '../retag/repository.js';
import type { Credential } from '../transport/types.js';

export interface OpenOptions {
  /** Request log for --verbose (credentials masked). */
  verbose?: (line: string) => void;
  /** Environment to read REGCTL_CONFIG_DIR, DOCKER_CONFIG, HOME from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Use these credentials for one registry instead of stored ones (`regctl login` verifies with it). */
  override?: { registry: string; credential: Credential };
  /** Passed through (dispatcher, retry policy, chunk size...). */
  client?: Omit<RegistryClientOptions, 'settings' | 'credentials' | 'log'>;
}

/**
 * The client CLI commands and features use: regctl's per-registry settings and credentials
 * (regctl's store, then Docker's config). Installs nothing global.
 */
export function createRegistryClient(options: OpenOptions = {}): RegistryClient {
  const env = options.env ?? process.env;
  const store = new ConfigStore(env);
  const chain = credentialChain(store, env, options.verbose);
  const override = options.override;
  return new RegistryClient({
    ...options.client,
    log: options.verbose,
    settings: (registry) => store.settings(registry),
    credentials: override
      ? async (registry) => (registry === override.registry ? override.credential : chain(registry))
      : chain,
  });
}

/**
 * Repositories for retag and delete: one client for all repositories of a command, so
 * connections and tokens are shared.
 */
export function repositoryOpener(opts: Pick<OpenOptions, 'verbose' | 'env'> = {}): (registry: string, name: string) => RetagRepository {
  const client = createRegistryClient({ verbose: opts.verbose, env: opts.env });
  return (registry, name) => client.repository(registry, name);
}

/** One repository for raw blob and manifest access (blob get/put, manifest put). */
export function rawRepository(registry: string, name: string, opts: Pick<OpenOptions, 'verbose' | 'env'> = {}): import('../raw/types.js').RawRepository {
  return createRegistryClient({ verbose: opts.verbose, env: opts.env }).repository(registry, name);
}
