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
    .summary('per-registry connection settings (insecure, CA file, skip-verify)')
    .description(
      `Settings regctl keeps per registry. Loopback registries (localhost, 127.0.0.0/8, ::1) use plain HTTP without any setting; other hosts use HTTPS with the system CAs unless set otherwise.`,
    )
    .addHelpText(
      'after',
      `
Examples:
  regctl config set registry.lan:5000 --insecure
  regctl config set registry.corp --ca-file /etc/ssl/corp-ca.pem
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
      const { normalizeRegistry } = await import('../../ref/reference.js');
      const registry = normalizeRegistry(host.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, ''));
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
      const { normalizeRegistry } = await import('../../ref/reference.js');
      const only = host === undefined ? undefined : normalizeRegistry(host.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, ''));
      const { ConfigStore } = await import('../../config/store.js');
      const store = new ConfigStore(ctx.streams.env);
      const registries = Object.fromEntries(Object.entries(store.allSettings()).filter(([r]) => only === undefined || r === only));
      // Usernames only: the store's passwords are never printed.
      const logins = store
        .loggedIn()
        .filter((r) => only === undefined || r === only)
        .map((registry) => ({ registry, username: store.credential(registry)!.username }));
      if (out.json) {
        out.printJson({ path: store.path, registries, logins });
        return;
      }
      out.line(`config file: ${store.path}`);
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
