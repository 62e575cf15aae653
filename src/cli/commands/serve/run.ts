import type { Command } from 'commander';
import { RegctlError, UsageError } from '../../../errors.js';
import type { CommandContext } from '../../context.js';
import { formatBytes, plural } from '../../format.js';
import { defaultRoot, REPEATABLE_OPTIONS, SETTING_OPTIONS, settingsFor, type ServeFlags } from './settings.js';

/** `regctl serve`: settings in, one runtime, a start-up banner, stop on a signal. */
export function registerServe(program: Command, ctx: CommandContext): Command {
  const serve = program
    .command('serve')
    .summary('run an OCI registry (data kept on disk)')
    .description(
      'Run a registry that docker, podman, skopeo, crane, oras and regctl push to and pull from (OCI distribution spec v1.1). Each repository is stored as an OCI image layout directory under --root, so OCI tools can read it directly (skopeo copy oci:ROOT/REPO:TAG ...). Stops gracefully on Ctrl-C / SIGTERM. Every setting also comes from REGCTL_SERVE_<NAME> (e.g. REGCTL_SERVE_TLS_CERT) or a --config file; flags win.',
    );
  for (const [flags, help] of SETTING_OPTIONS) {
    if (REPEATABLE_OPTIONS.has(flags)) serve.option(flags, help, (v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
    else serve.option(flags, help);
  }
  serve
    .option('--config <file>', 'settings file, YAML or JSON, keys as the flags (tls-cert: ..., gc-interval: 6h) (or $REGCTL_SERVE_CONFIG)')
    .option('--no-log', 'no access log')
    .option('--storage <url>', 'keep everything in S3 or an S3-compatible store: s3://BUCKET[/PREFIX] (credentials from the AWS environment/SDK chain; see docs/scale-out.md)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint (MinIO, Ceph, R2...)')
    .option('--s3-region <region>', 'S3 region (default $AWS_REGION or us-east-1)')
    .option('--s3-force-path-style', 'path-style bucket addressing (most S3-compatible stores)')
    .option('--s3-redirect', 'answer blob GETs with a 307 to a presigned URL instead of streaming them')
    .option('--s3-upload-secret-file <file>', 'secret shared by all instances that signs upload ids (or $REGCTL_SERVE_UPLOAD_SECRET)')
    .addHelpText(
      'after',
      `
Examples:
  regctl serve    (on 127.0.0.1:5000, data in ~/.local/share/regctl/registry)
  regctl serve --port 5001 --root /srv/registry
  regctl serve --address 0.0.0.0 --htpasswd users --access access.yaml \\
      --tls-cert cert.pem --tls-key key.pem
  regctl serve user add alice --htpasswd users
      (the password is asked for, or read with --password-stdin)
  regctl serve gc --root /srv/registry --dry-run      (safe while it runs)
  skopeo copy --dest-tls-verify=false docker-archive:app.tar \\
      docker://127.0.0.1:5000/app:1.0`,
    )
    .action(async (flags: ServeFlags, cmd: Command) => {
      const out = ctx.output(cmd);
      const env = ctx.streams.env ?? process.env;
      const { settings } = await settingsFor(cmd, env);
      const { resolve } = await import('node:path');
      const root = resolve(settings.root ?? (await defaultRoot(env)));
      const storage =
        flags.storage === undefined
          ? undefined
          : await (await import('../../../server/storage/open-storage.js')).openServeStorage(
              { ...flags, storage: flags.storage, readOnly: settings.readOnly },
              env,
              (m) => out.warn(m),
            );
      const { createServeRuntime, clientHints } = await import('../../../server/runtime.js');
      let runtime: Awaited<ReturnType<typeof createServeRuntime>>;
      try {
        runtime = await createServeRuntime({
          settings,
          root,
          ...(storage ? { storage } : {}),
          ...(flags.log ? { log: (line: string) => out.streams.stdout.write(`${line}\n`) } : {}),
          warn: (m) => out.warn(m),
          info: (m) => out.info(m),
          onError: (e, r) => out.streams.stderr.write(`error: ${r.method} ${r.path}: ${(e as Error)?.message ?? String(e)}\n`),
          onGcReport: (r) => out.info(`gc: removed ${plural(r.removed.length, 'item')}, reclaimed ${formatBytes(r.bytesReclaimed)}`),
        });
      } catch (e) {
        if (e instanceof RegctlError) throw e;
        throw new RegctlError('STORAGE', `cannot use storage root ${root}: ${(e as Error).message}`);
      }
      let bound;
      try {
        bound = await runtime.listen(settings.port, settings.address);
      } catch (e) {
        await runtime.close();
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new UsageError(`port ${settings.port} on ${settings.address} is already in use (try --port)`);
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`cannot listen on address ${settings.address}`);
        throw e;
      }
      const wildcard = bound.host === '0.0.0.0' || bound.host === '::';
      const hostForClients = wildcard ? 'localhost' : bound.host.includes(':') ? `[${bound.host}]` : bound.host;
      const registry = `${hostForClients}:${bound.port}`;
      // Signal handlers first: a supervisor may send SIGTERM as soon as it sees the start-up line.
      const stopped = new Promise<void>((done) => {
        const stop = (signal: string) => {
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          out.info(`${signal}: finishing in-flight requests...`);
          runtime.close().then(done, done);
        };
        const onInt = () => stop('SIGINT');
        const onTerm = () => stop('SIGTERM');
        process.once('SIGINT', onInt);
        process.once('SIGTERM', onTerm);
      });
      const loopback = !wildcard && /^(127\.|::1$|localhost$)/.test(bound.host);
      if (out.json) {
        out.printJson({
          url: bound.url,
          registry,
          root: flags.storage ?? root,
          readOnly: settings.readOnly,
          delete: !settings.noDelete,
          tls: runtime.tls !== undefined,
          auth: settings.htpasswd !== undefined,
        });
      } else {
        out.line(`regctl registry listening on ${bound.url}${wildcard ? ` (all interfaces; clients use ${registry})` : ''}`);
        out.line(`storage: ${flags.storage ?? root}`);
        for (const l of runtime.mirror?.describe() ?? []) out.line(l);
        // Other machines reach a wildcard listener by this machine's name, not localhost.
        const hintRegistry = wildcard ? `THIS-HOST:${bound.port}` : registry;
        for (const l of clientHints({ registry: hintRegistry, ...(runtime.tls ? { tls: runtime.tls } : {}), loopback, users: settings.htpasswd !== undefined })) out.line(l);
        out.line(`push: regctl copy docker.io/library/alpine:latest ${registry}/alpine:latest`);
      }
      await stopped;
    });

  return serve;
}
