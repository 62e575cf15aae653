import type { Credential, CredentialProvider } from '../transport/types.js';
import { dockerCredential, readDockerConfig } from './docker.js';
import type { ConfigStore } from './store.js';

/** regctl's own store first (what `regctl login` saved), then Docker's config. */
export function credentialChain(store: ConfigStore, env: NodeJS.ProcessEnv = process.env, warn?: (line: string) => void): CredentialProvider {
  let docker: ReturnType<typeof readDockerConfig> | null = null;
  return async (registry: string): Promise<Credential | undefined> => {
    const own = store.credential(registry);
    if (own) return { username: own.username, password: own.password };
    if (docker === null) docker = readDockerConfig(env, warn);
    return dockerCredential(registry, docker, env);
  };
}
