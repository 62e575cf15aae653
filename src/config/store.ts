import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Conf from 'conf';
import { RegctlError } from '../errors.js';
import type { HostSettings } from '../transport/types.js';

/** A stored login. The file holding it is mode 0600; nothing prints it. */
export interface StoredCredential {
  username: string;
  password: string;
}

interface Schema {
  registries: Record<string, HostSettings>;
  auths: Record<string, StoredCredential>;
  /** Registry for names without a host (`regctl config set-default`); absent: Docker Hub. */
  defaultRegistry?: string;
}

/** Where conf keeps `projectName: 'regctl', projectSuffix: ''` (env-paths' config directory). */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.REGCTL_CONFIG_DIR) return env.REGCTL_CONFIG_DIR;
  const home = env.HOME ?? process.getBuiltinModule('node:os').homedir();
  if (process.platform === 'darwin') return join(home, 'Library', 'Preferences', 'regctl');
  if (process.platform === 'win32') return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'regctl', 'Config');
  return join(env.XDG_CONFIG_HOME ?? join(home, '.config'), 'regctl');
}

/**
 * regctl's own settings and credentials (never Docker's file): `~/.config/regctl/config.json`
 * on Linux, or `$REGCTL_CONFIG_DIR/config.json`. Keys are registry names (`localhost:5000`),
 * which contain dots, so dot-notation access is off. Reads parse the JSON file directly; conf
 * (which costs ~60 ms to load) is only loaded to write, so read-only commands start fast.
 */
export class ConfigStore {
  readonly dir: string;
  readonly path: string;
  private data: Schema;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.dir = configDir(env);
    this.path = join(this.dir, 'config.json');
    this.data = this.read();
  }

  private read(): Schema {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return { registries: {}, auths: {} };
    }
    try {
      const j = JSON.parse(text) as Partial<Schema>;
      return { registries: { ...j.registries }, auths: { ...j.auths }, ...(typeof j.defaultRegistry === 'string' ? { defaultRegistry: j.defaultRegistry } : {}) };
    } catch (e) {
      throw new RegctlError('CONFIG_INVALID', `cannot read regctl's configuration ${this.path}: not valid JSON`, { cause: e });
    }
  }

  private async write(update: (s: Schema) => void): Promise<void> {
    this.makePrivateDir();
    const { default: ConfClass } = await import('conf');
    let conf: Conf<Schema>;
    try {
      conf = new ConfClass<Schema>({
        projectName: 'regctl',
        projectSuffix: '',
        cwd: this.dir,
        configFileMode: 0o600,
        accessPropertiesByDotNotation: false,
        defaults: { registries: {}, auths: {} },
      });
    } catch (e) {
      throw new RegctlError('CONFIG_INVALID', `cannot read regctl's configuration: ${(e as Error).message}`, { cause: e });
    }
    const stored = conf.get('defaultRegistry');
    const s: Schema = { registries: { ...conf.get('registries') }, auths: { ...conf.get('auths') }, ...(typeof stored === 'string' ? { defaultRegistry: stored } : {}) };
    update(s);
    conf.set('registries', s.registries);
    conf.set('auths', s.auths);
    if (s.defaultRegistry === undefined) conf.delete('defaultRegistry');
    else conf.set('defaultRegistry', s.defaultRegistry);
    // conf creates the file with configFileMode through the umask; make sure it is 0600.
    chmodSync(this.path, 0o600);
    this.data = s;
  }

  /**
   * The folder holds credentials: made 0700 here (conf would make it 0777 minus the umask,
   * i.e. world-writable under umask 000). An existing folder is left as the user set it.
   */
  private makePrivateDir(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  defaultRegistry(): string | undefined {
    return this.data.defaultRegistry;
  }

  async setDefaultRegistry(registry: string | undefined): Promise<void> {
    await this.write((s) => {
      if (registry === undefined) delete s.defaultRegistry;
      else s.defaultRegistry = registry;
    });
  }

  settings(registry: string): HostSettings | undefined {
    return this.data.registries[registry];
  }

  allSettings(): Record<string, HostSettings> {
    return { ...this.data.registries };
  }

  async setSettings(registry: string, settings: HostSettings): Promise<void> {
    const clean: HostSettings = {};
    if (settings.insecure) clean.insecure = true;
    if (settings.caFile) clean.caFile = settings.caFile;
    if (settings.skipVerify) clean.skipVerify = true;
    await this.write((s) => {
      if (Object.keys(clean).length === 0) delete s.registries[registry];
      else s.registries[registry] = clean;
    });
  }

  credential(registry: string): StoredCredential | undefined {
    return this.data.auths[registry];
  }

  /** Registries with a stored login (names only). */
  loggedIn(): string[] {
    return Object.keys(this.data.auths).sort();
  }

  async setCredential(registry: string, cred: StoredCredential): Promise<void> {
    await this.write((s) => {
      s.auths[registry] = { username: cred.username, password: cred.password };
    });
  }

  /** True when there was a login to remove. */
  async deleteCredential(registry: string): Promise<boolean> {
    let removed = false;
    await this.write((s) => {
      removed = registry in s.auths;
      delete s.auths[registry];
    });
    return removed;
  }
}
