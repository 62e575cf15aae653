import type { Command } from 'commander';
import { RegctlError, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';

interface ServeFlags {
  port: string;
  address: string;
  root?: string;
  readOnly?: boolean;
  delete: boolean;
  logFormat: string;
  log: boolean;
  uploadTtl: string;
  storage?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3ForcePathStyle?: boolean;
  s3Redirect?: boolean;
  s3UploadSecretFile?: string;
}

/** $XDG_DATA_HOME/regctl/registry, else ~/.local/share/regctl/registry. */
export async function defaultRoot(env: NodeJS.ProcessEnv): Promise<string> {
  const { homedir } = await import('node:os');
  const { join, isAbsolute } = await import('node:path');
  const xdg = env.XDG_DATA_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.local', 'share');
  return join(base, 'regctl', 'registry');
}

function parsePort(s: string): number {
  if (!/^\d{1,5}$/.test(s) || Number(s) > 65535) throw new UsageError(`--port must be 0-65535, got "${s}"`);
  return Number(s);
}

/** "30m", "24h", "90s", "2d" or plain seconds. */
function parseDuration(s: string): number {
  const m = /^(\d+)(s|m|h|d)?$/.exec(s.trim());
  if (!m) throw new UsageError(`invalid duration "${s}": use e.g. 90s, 30m, 24h, 2d`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 's'];
  return Number(m[1]) * unit;
}

export function register(program: Command, ctx: CommandContext): void {
  program
    .command('serve')
    .summary('run an OCI registry (data kept on disk)')
    .description(
      'Run a registry that docker, podman, skopeo, crane, oras and regctl push to and pull from (OCI distribution spec v1.1). Each repository is stored as an OCI image layout directory under --root, so OCI tools can read it directly (skopeo copy oci:ROOT/REPO:TAG ...). Stops gracefully on Ctrl-C / SIGTERM.',
    )
    .option('-p, --port <port>', 'TCP port (0 picks a free one)', '5000')
    .option('-a, --address <addr>', 'address to listen on; 0.0.0.0 exposes the registry to the network', '127.0.0.1')
    .option('--root <dir>', 'storage directory (default $XDG_DATA_HOME/regctl/registry or ~/.local/share/regctl/registry)')
    .option('--read-only', 'refuse pushes and deletes')
    .option('--no-delete', 'refuse deletes of blobs, manifests and tags')
    .option('--log-format <format>', 'access log format: text or json', 'text')
    .option('--no-log', 'no access log')
    .option('--upload-ttl <duration>', 'remove upload sessions idle this long', '24h')
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
  regctl serve                                   127.0.0.1:5000, data in ~/.local/share/regctl/registry
  regctl serve --port 5001 --root /srv/registry
  regctl serve --address 0.0.0.0 --log-format json
  skopeo copy --dest-tls-verify=false docker-archive:app.tar docker://127.0.0.1:5000/app:1.0`,
    )
    .action(async (flags: ServeFlags, cmd: Command) => {
      const out = ctx.output(cmd);
      const port = parsePort(flags.port);
      if (flags.logFormat !== 'text' && flags.logFormat !== 'json') {
        throw new UsageError(`--log-format must be text or json, got "${flags.logFormat}"`);
      }
      const uploadTtlMs = parseDuration(flags.uploadTtl);
      const env = ctx.streams.env ?? process.env;
      const { resolve } = await import('node:path');
      const root = resolve(flags.root ?? (await defaultRoot(env)));
      const { createRegistryServer } = await import('../../server/server.js');
      const { formatAccessLog } = await import('../../server/access-log.js');
      const format = flags.logFormat;
      let reg: Awaited<ReturnType<typeof createRegistryServer>>;
      const storage =
        flags.storage === undefined
          ? undefined
          : await (await import('../../server/storage/open.js')).openServeStorage({ ...flags, storage: flags.storage }, env, (m) => out.warn(m));
      try {
        reg = await createRegistryServer({
          ...(storage ? { storage } : { root }),
          readOnly: flags.readOnly ?? false,
          deleteEnabled: flags.delete,
          uploadTtlMs,
          ...(flags.log ? { onRequest: (e) => out.streams.stdout.write(`${formatAccessLog(e, format)}\n`) } : {}),
          onError: (e, r) => out.streams.stderr.write(`error: ${r.method} ${r.path}: ${(e as Error)?.message ?? String(e)}\n`),
        });
      } catch (e) {
        throw new RegctlError('STORAGE', `cannot use storage root ${root}: ${(e as Error).message}`);
      }
      let bound;
      try {
        bound = await reg.listen(port, flags.address);
      } catch (e) {
        await reg.close();
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new UsageError(`port ${port} on ${flags.address} is already in use (try --port)`);
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`cannot listen on address ${flags.address}`);
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
          reg.close().then(done, done);
        };
        const onInt = () => stop('SIGINT');
        const onTerm = () => stop('SIGTERM');
        process.once('SIGINT', onInt);
        process.once('SIGTERM', onTerm);
      });
      if (out.json) {
        out.printJson({ url: bound.url, registry, root: flags.storage ?? root, readOnly: flags.readOnly ?? false, delete: flags.delete });
      } else {
        out.line(`regctl registry listening on ${bound.url}${wildcard ? ` (all interfaces; clients use ${registry})` : ''}`);
        out.line(`storage: ${flags.storage ?? root}`);
        out.line(`push: regctl copy docker.io/library/alpine:latest ${registry}/alpine:latest`);
      }
      await stopped;
    });
}
