import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';

interface SetFlags {
  insecure?: boolean;
  secure?: boolean;
  caFile?: string;
  skipVerify?: boolean;
  verify?: boolean;
  reset?: boolean;
}

export function register(program: Command, ctx: CommandContext): void {
  const config = program
    .command('config')
    .summary('per-registry connection settings (insecure, CA file, skip-verify), default registry')
    .description(
      `Settings regctl keeps per registry. Loopback registries (localhost, 127.0.0.0/8, ::1) use plain HTTP unless they have a CA file or skip-verify set (then HTTPS); other hosts use HTTPS with the system CAs unless set otherwise. An http:// or https:// in front of a registry name chooses for that command. Names without a registry (myimage:1.0) mean Docker Hub, unless a default registry is set (REGCTL_REGISTRY, or config set-default).`,
    )
    .addHelpText(
      'after',
      `
Examples:
  regctl config set registry.lan:5000 --insecure
  regctl config set registry.corp --ca-file /etc/ssl/corp-ca.pem
  regctl config set-default localhost:5000
  regctl config show --json`,
    );

  config
    .command('set')
    .summary('change the settings of one registry')
    .argument('<host>', 'registry, e.g. registry.lan:5000')
    .option('--insecure', 'use plain HTTP for this registry')
    .option('--secure', 'use HTTPS again (undo --insecure)')
    .option('--ca-file <file>', 'trust the CA certificates in this PEM file (plus the system CAs)')
    .option('--skip-verify', 'do not verify the TLS certificate (dangerous)')
    .option('--verify', 'verify the TLS certificate again (undo --skip-verify)')
    .option('--reset', 'forget every setting of this registry first')
    .addHelpText(
      'after',
      `
Examples:
  regctl config set registry.lan:5000 --insecure
  regctl config set registry.corp --ca-file ./corp-ca.pem
  regctl config set registry.corp --reset`,
    )
    .action(async (host: string, flags: SetFlags, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseRegistryArg } = await import('../../ref/reference.js');
      const registry = parseRegistryArg(host);
      if (flags.insecure && flags.secure) throw new UsageError('--insecure and --secure contradict each other');
      if (flags.skipVerify && flags.verify) throw new UsageError('--skip-verify and --verify contradict each other');
      const { ConfigStore } = await import('../../config/store.js');
      const store = new ConfigStore(ctx.streams.env);
      const s = flags.reset ? {} : { ...store.settings(registry) };
      if (flags.insecure) s.insecure = true;
      if (flags.secure) delete s.insecure;
      if (flags.skipVerify) s.skipVerify = true;
      if (flags.verify) delete s.skipVerify;
      if (flags.caFile !== undefined) {
        const { resolve } = await import('node:path');
        const { readFileSync } = await import('node:fs');
        const file = resolve(flags.caFile);
        let pem: string;
        try {
          pem = readFileSync(file, 'utf8');
        } catch (e) {
          throw new UsageError(`--ca-file: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--ca-file: ${file} holds no PEM certificate`);
        s.caFile = file;
      }
      await store.setSettings(registry, s);
      if (s.skipVerify) out.warn(`TLS certificates of ${registry} will not be verified`);
      const now = store.settings(registry) ?? {};
      if (out.json) out.printJson({ registry, settings: now });
      else out.info(`${registry}: ${describe(now)}`);
    });

  config
    .command('set-default')
    .summary('the registry of names without one (instead of Docker Hub)')
    .argument('[host]', 'registry, e.g. localhost:5000')
    .option('--unset', 'forget it: names without a registry mean Docker Hub again')
    .addHelpText(
      'after',
      `
The environment variable REGCTL_REGISTRY, when set, takes precedence.

Examples:
  regctl config set-default localhost:5000
  regctl retag --semver myimage:1.9.2     # localhost:5000/myimage
  regctl config set-default --unset`,
    )
    .action(async (host: string | undefined, flags: { unset?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      if (flags.unset && host !== undefined) throw new UsageError('give a registry or --unset, not both');
      if (!flags.unset && host === undefined) throw new UsageError('name the default registry (e.g. localhost:5000), or pass --unset');
      const { parseRegistryArg, DOCKER_HUB } = await import('../../ref/reference.js');
      const registry = host === undefined ? undefined : parseRegistryArg(host);
      const { ConfigStore } = await import('../../config/store.js');
      const store = new ConfigStore(ctx.streams.env);
      await store.setDefaultRegistry(registry);
      const env = ctx.streams.env ?? process.env;
      if (env.REGCTL_REGISTRY) out.warn(`REGCTL_REGISTRY=${env.REGCTL_REGISTRY} is set and takes precedence`);
      if (out.json) out.printJson({ defaultRegistry: registry ?? null });
      else out.info(registry ? `names without a registry now mean ${registry}` : `names without a registry mean ${DOCKER_HUB} again`);
    });

  config
    .command('show')
    .summary('print the settings and which registries have stored logins')
    .argument('[host]', 'only this registry')
    .addHelpText(
      'after',
      `
Examples:
  regctl config show
  regctl config show registry.lan:5000 --json`,
    )
    .action(async (host: string | undefined, _flags: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const { parseRegistryArg } = await import('../../ref/reference.js');
      const only = host === undefined ? undefined : parseRegistryArg(host);
      const { ConfigStore } = await import('../../config/store.js');
      const store = new ConfigStore(ctx.streams.env);
      const registries = Object.fromEntries(Object.entries(store.allSettings()).filter(([r]) => only === undefined || r === only));
      // Usernames only: the store's passwords are never printed.
      const logins = store
        .loggedIn()
        .filter((r) => only === undefined || r === only)
        .map((registry) => ({ registry, username: store.credential(registry)!.username }));
      const { getDefaultRegistry } = await import('../../ref/reference.js');
      const env = ctx.streams.env ?? process.env;
      // What main.ts chose for this run: REGCTL_REGISTRY, else the stored default, else Docker Hub.
      const defaultRegistry = getDefaultRegistry();
      const from = env.REGCTL_REGISTRY?.trim() ? 'REGCTL_REGISTRY' : store.defaultRegistry() !== undefined ? 'config' : 'docker';
      if (out.json) {
        out.printJson({ path: store.path, defaultRegistry, defaultRegistryFrom: from, registries, logins });
        return;
      }
      out.line(`config file: ${store.path}`);
      const why = from === 'REGCTL_REGISTRY' ? 'from REGCTL_REGISTRY' : from === 'config' ? 'set with config set-default' : "Docker's rule";
      out.line(`default registry: ${defaultRegistry} (${why})`);
      for (const [r, s] of Object.entries(registries).sort(([a], [b]) => (a < b ? -1 : 1))) out.line(`${r}\t${describe(s)}`);
      for (const l of logins) out.line(`${l.registry}\tlogged in as ${l.username}`);
    });
}

function describe(s: { insecure?: boolean; caFile?: string; skipVerify?: boolean }): string {
  const parts: string[] = [];
  if (s.insecure) parts.push('insecure (plain HTTP)');
  if (s.caFile) parts.push(`ca-file=${s.caFile}`);
  if (s.skipVerify) parts.push('skip-verify');
  return parts.length ? parts.join(', ') : 'defaults';
}
