import type { Credential, CredentialProvider } from '../transport/types.js';
import { dockerCredential, readDockerConfig, readDockerConfigFile } from './docker.js';
import { jobCredentials } from './job-credentials.js';
import type { ConfigStore } from './store.js';

/**
 * Where a registry's credentials come from, first match wins (README "Credentials"):
 *   1. what the job passes: --creds-file / REGCTL_CREDS_FILE, REGCTL_AUTH_<HOST>, REGCTL_AUTH
 *   2. regctl's own store (what `regctl login` saved)
 *   3. REGISTRY_AUTH_FILE (podman/skopeo's auth.json, same format as Docker's)
 *   4. Docker's config ($DOCKER_CONFIG/config.json or ~/.docker/config.json)
 * All read-only: nothing here writes a file.
 */
export function credentialChain(store: ConfigStore, env: NodeJS.ProcessEnv = process.env, warn?: (line: string) => void): CredentialProvider {
  const job = jobCredentials({ env });
  let authFile: ReturnType<typeof readDockerConfig> | null = null;
  let docker: ReturnType<typeof readDockerConfig> | null = null;
  return async (registry: string): Promise<Credential | undefined> => {
    const fromJob = await job(registry);
    if (fromJob) return fromJob;
    const own = store.credential(registry);
    if (own) return { username: own.username, password: own.password };
    if (env.REGISTRY_AUTH_FILE) {
      if (authFile === null) authFile = readDockerConfigFile(env.REGISTRY_AUTH_FILE, warn);
      const fromAuthFile = await dockerCredential(registry, authFile, env);
      if (fromAuthFile) return fromAuthFile;
    }
    if (docker === null) docker = readDockerConfig(env, warn);
    return dockerCredential(registry, docker, env);
  };
}
