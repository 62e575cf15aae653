import Conf from 'conf';
import { RegctlError } from '../errors.js';
import type { HostSettings } from './types.js';

/** A stored login. The file holding it is mode 0600; nothing prints it. */
export interface StoredCredential {
  username: string;
  password: string;
}

interface Schema {
  registries: Record<string, HostSettings>;
  auths: Record<string, StoredCredential>;
}

/**
 * regctl's own settings and credentials (never Docker's file): `~/.config/regctl/config.json`
 * by default, or `$REGCTL_CONFIG_DIR/config.json`. Keys are registry names (`localhost:5000`),
 * which contain dots, so dot-notation access is off.
 */
export class ConfigStore {
  private readonly conf: Conf<Schema>;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    try {
      this.conf = new Conf<Schema>({
        projectName: 'regctl',
        projectSuffix: '',
        configFileMode: 0o600,
        accessPropertiesByDotNotation: false,
        ...(env.REGCTL_CONFIG_DIR ? { cwd: env.REGCTL_CONFIG_DIR } : {}),
        defaults: { registries: {}, auths: {} },
      });
    } catch (e) {
      throw new RegctlError('CONFIG_INVALID', `cannot read regctl's configuration: ${(e as Error).message}`, { cause: e });
    }
  }

  get path(): string {
    return this.conf.path;
  }

  settings(registry: string): HostSettings | undefined {
    return this.conf.get('registries')[registry];
  }

  allSettings(): Record<string, HostSettings> {
    return this.conf.get('registries');
  }

  setSettings(registry: string, settings: HostSettings): void {
    const all = { ...this.conf.get('registries') };
    const clean: HostSettings = {};
    if (settings.insecure) clean.insecure = true;
    if (settings.caFile) clean.caFile = settings.caFile;
    if (settings.skipVerify) clean.skipVerify = true;
    if (Object.keys(clean).length === 0) delete all[registry];
    else all[registry] = clean;
    this.conf.set('registries', all);
  }

  credential(registry: string): StoredCredential | undefined {
    return this.conf.get('auths')[registry];
  }

  /** Registries with a stored login (names only). */
  loggedIn(): string[] {
    return Object.keys(this.conf.get('auths')).sort();
  }

  setCredential(registry: string, cred: StoredCredential): void {
    this.conf.set('auths', { ...this.conf.get('auths'), [registry]: { username: cred.username, password: cred.password } });
  }

  /** True when there was a login to remove. */
  deleteCredential(registry: string): boolean {
    const all = { ...this.conf.get('auths') };
    if (!(registry in all)) return false;
    delete all[registry];
    this.conf.set('auths', all);
    return true;
  }
}
