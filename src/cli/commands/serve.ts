import type { Command } from 'commander';
import { InterruptedError, RegctlError, UsageError } from '../../errors.js';
import type { CommandContext } from '../context.js';
import { formatBytes, formatSeconds, plural } from '../format.js';

interface ServeFlags {
  config?: string;
  root?: string;
  log: boolean;
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

// ---- settings: flags > REGCTL_SERVE_* > --config file > defaults (ops/config.ts) ----
// No commander defaults on these options: a default would beat the environment and the file.
// [flag, help]; the flag's camelCase name is the settings key unless SETTING_KEYS says otherwise.
const SETTING_OPTIONS: Array<[string, string]> = [
  ['-p, --port <port>', 'TCP port (0 picks a free one; default 5000)'],
  ['-a, --address <addr>', 'address to listen on; 0.0.0.0 exposes the registry to the network (default 127.0.0.1)'],
  ['--root <dir>', 'storage directory (default $XDG_DATA_HOME/regctl/registry or ~/.local/share/regctl/registry)'],
  ['--read-only', 'refuse pushes and deletes (maintenance)'],
  ['--no-delete', 'refuse deletes of blobs, manifests and tags'],
  ['--log-format <format>', 'access log format: text or json (default text)'],
  ['--htpasswd <file>', 'require logins: users with bcrypt passwords (htpasswd -B format; manage with `regctl serve user`)'],
  ['--access <file>', 'per-repository access rules, JSON or YAML (see docs/serve-security.md)'],
  ['--tls-cert <file>', 'serve HTTPS (TLS 1.2+) with this PEM certificate (chain)'],
  ['--tls-key <file>', 'PEM private key of --tls-cert'],
  ['--realm <name>', 'realm in the Basic challenge (default regctl)'],
  ['--gc-interval <duration>', 'collect garbage periodically, e.g. 6h (default off)'],
  ['--gc-grace <duration>', 'gc keeps anything younger than this (default 1h)'],
  ['--upload-ttl <duration>', 'remove upload sessions idle this long (default 24h)'],
  ['--max-uploads-per-repository <n>', 'open upload sessions per repository (default 100)'],
  ['--max-uploads-per-client <n>', 'open upload sessions per user, or per address without login (default 100)'],
  ['--max-uploads <n>', 'open upload sessions in all (default 1000)'],
  ['--max-manifest-size <size>', 'largest manifest accepted (default 4MiB)'],
  ['--max-tags-per-repository <n>', 'tags one repository may hold (default 20000)'],
  ['--max-header-size <size>', 'largest request line plus headers (default 16KiB)'],
  ['--max-url-length <n>', 'longest request URL (default 8192)'],
  ['--idle-timeout <duration>', 'close connections silent this long; a slow upload that still sends is kept (default 60s)'],
  ['--max-connections <n>', 'open connections at most; more get 503 + Retry-After (default 1000, less if the open-file limit is lower)'],
  ['--headers-timeout <duration>', 'time allowed to send the request headers (default 30s)'],
  ['--login-attempts-per-minute <n>', 'failed logins allowed per client address per minute (default 10)'],
  ['--no-metrics', 'no Prometheus /metrics endpoint'],
];

const SETTING_KEYS: Record<string, string> = {
  delete: 'noDelete',
  maxManifestSize: 'maxManifestBytes',
  maxHeaderSize: 'maxHeaderBytes',
  gcInterval: 'gcIntervalMs',
  gcGrace: 'gcGraceMs',
  uploadTtl: 'uploadTtlMs',
  idleTimeout: 'idleTimeoutMs',
  headersTimeout: 'headersTimeoutMs',
};

function attributeOf(flags: string): string {
  const long = /--(?:no-)?([a-z0-9-]+)/.exec(flags)![1]!;
  return long.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The settings the user gave on this command line, keyed as ServeSettings. */
function givenSettings(cmd: Command): Record<string, unknown> {
  const values = cmd.optsWithGlobals() as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  // A sub-command (gc, user) sees options given before its name on the parent.
  const given = (attr: string) => [cmd, cmd.parent, cmd.parent?.parent].some((c) => c?.getOptionValueSource(attr) === 'cli');
  for (const [flags] of SETTING_OPTIONS) {
    const attr = attributeOf(flags);
    if (!given(attr)) continue;
    // --no-delete is stored by commander as delete=false.
    out[SETTING_KEYS[attr] ?? attr] = attr === 'delete' ? values[attr] === false : values[attr];
  }
  return out;
}

async function settingsFor(cmd: Command, env: NodeJS.ProcessEnv, extra: Record<string, unknown> = {}) {
  const { resolveServeConfig } = await import('../../server/ops/config.js');
  const config = (cmd.optsWithGlobals() as { config?: string }).config;
  return resolveServeConfig({ flags: { ...givenSettings(cmd), ...extra, ...(config !== undefined ? { config } : {}) }, env });
}

export function register(program: Command, ctx: CommandContext): void {
  const serve = program
    .command('serve')
    .summary('run an OCI registry (data kept on disk)')
    .description(
      'Run a registry that docker, podman, skopeo, crane, oras and regctl push to and pull from (OCI distribution spec v1.1). Each repository is stored as an OCI image layout directory under --root, so OCI tools can read it directly (skopeo copy oci:ROOT/REPO:TAG ...). Stops gracefully on Ctrl-C / SIGTERM. Every setting also comes from REGCTL_SERVE_<NAME> (e.g. REGCTL_SERVE_TLS_CERT) or a --config file; flags win.',
    );
  for (const [flags, help] of SETTING_OPTIONS) serve.option(flags, help);
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
          : await (await import('../../server/storage/open.js')).openServeStorage(
              { ...flags, storage: flags.storage, readOnly: settings.readOnly },
              env,
              (m) => out.warn(m),
            );
      const { createServeRuntime, clientHints } = await import('../../server/ops/runtime.js');
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
        // Other machines reach a wildcard listener by this machine's name, not localhost.
        const hintRegistry = wildcard ? `THIS-HOST:${bound.port}` : registry;
        for (const l of clientHints({ registry: hintRegistry, ...(runtime.tls ? { tls: runtime.tls } : {}), loopback, users: settings.htpasswd !== undefined })) out.line(l);
        out.line(`push: regctl copy docker.io/library/alpine:latest ${registry}/alpine:latest`);
      }
      await stopped;
    });

  registerUser(serve, ctx);
  registerGc(serve, ctx);
}

// ---- regctl serve user add|rm|list ----

async function htpasswdPath(cmd: Command, env: NodeJS.ProcessEnv): Promise<string> {
  const { settings } = await settingsFor(cmd, env);
  if (settings.htpasswd === undefined) throw new UsageError('which users file? pass --htpasswd FILE (or set REGCTL_SERVE_HTPASSWD)');
  return settings.htpasswd;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Read a line from a terminal without echoing it. */
async function promptHidden(ctx: CommandContext, question: string): Promise<string> {
  const stdin = ctx.streams.stdin as NodeJS.ReadStream;
  ctx.streams.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let value = '';
      const onData = (chunk: Buffer | string) => {
        for (const ch of chunk.toString('utf8')) {
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            stdin.off('data', onData);
            resolve(value);
            return;
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            reject(new InterruptedError('interrupted'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
          else value += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    ctx.streams.stderr.write('\n');
  }
}

async function readPassword(ctx: CommandContext, fromStdin: boolean): Promise<string> {
  const stdin = ctx.streams.stdin;
  if (fromStdin) {
    if (!stdin) throw new UsageError('--password-stdin: no standard input');
    if (stdin.isTTY) throw new UsageError('--password-stdin: standard input is a terminal; pipe the password in');
    const password = (await readAll(stdin)).replace(/\r?\n$/, '');
    if (password === '') throw new UsageError('--password-stdin: no password on standard input');
    return password;
  }
  if (!stdin?.isTTY || typeof (stdin as NodeJS.ReadStream).setRawMode !== 'function') {
    throw new UsageError('no terminal to ask for the password: pipe it in with --password-stdin (never on the command line)');
  }
  const first = await promptHidden(ctx, 'Password: ');
  const again = await promptHidden(ctx, 'Repeat password: ');
  if (first !== again) throw new UsageError('the passwords do not match');
  if (first === '') throw new UsageError('empty password');
  return first;
}

function registerUser(serve: Command, ctx: CommandContext): void {
  const user = serve.command('user').summary('manage the users of --htpasswd FILE (bcrypt, like htpasswd -B)');
  // Nested sub-commands get the program's error handling and output (main.ts wires two levels).
  user.hook('preSubcommand', (parent, sub) => {
    sub.exitOverride();
    sub.configureOutput(parent.configureOutput());
  });
  user
    .command('add <name>')
    .summary('add a user or change their password')
    .option('--password-stdin', 'read the password from standard input (else it is asked for on the terminal)')
    .option('--htpasswd <file>', 'users file (created if missing)')
    .option('--cost <n>', 'bcrypt cost 4-17 (default 10)')
    .action(async (name: string, flags: { passwordStdin?: boolean; cost?: string }, cmd: Command) => {
      const out = ctx.output(cmd);
      const env = ctx.streams.env ?? process.env;
      const path = await htpasswdPath(cmd, env);
      const { addUser, validateUsername } = await import('../../server/security/htpasswd.js');
      validateUsername(name);
      const cost = flags.cost === undefined ? undefined : Number(flags.cost);
      const password = await readPassword(ctx, flags.passwordStdin === true);
      const result = await addUser(path, name, password, cost === undefined ? {} : { cost });
      if (out.json) out.printJson({ user: name, result, file: path });
      else out.info(`${result === 'added' ? 'added' : 'changed the password of'} ${name} in ${path}`);
    });
  user
    .command('rm <name>')
    .alias('remove')
    .summary('remove a user')
    .option('--htpasswd <file>', 'users file')
    .action(async (name: string, _flags: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const path = await htpasswdPath(cmd, ctx.streams.env ?? process.env);
      const { removeUser } = await import('../../server/security/htpasswd.js');
      const removed = await removeUser(path, name);
      if (!removed) {
        const { NotFoundError } = await import('../../errors.js');
        throw new NotFoundError(`no user ${name} in ${path}`);
      }
      if (out.json) out.printJson({ user: name, result: 'removed', file: path });
      else out.info(`removed ${name} from ${path}`);
    });
  user
    .command('list')
    .alias('ls')
    .summary('list the users (names only)')
    .option('--htpasswd <file>', 'users file')
    .action(async (_flags: unknown, cmd: Command) => {
      const out = ctx.output(cmd);
      const path = await htpasswdPath(cmd, ctx.streams.env ?? process.env);
      const { listUsers } = await import('../../server/security/htpasswd.js');
      const users = await listUsers(path);
      if (out.json) {
        out.printJson(users);
        return;
      }
      for (const u of users) out.line(u.supported ? u.username : `${u.username}\t(not bcrypt: refused by the server; set a new password)`);
    });
}

// ---- regctl serve gc ----

function registerGc(serve: Command, ctx: CommandContext): void {
  serve
    .command('gc')
    .summary('remove blobs and manifests no tag reaches (safe while the registry runs)')
    .option('--dry-run', 'report what would be removed, remove nothing')
    .option('--untagged', 'also remove manifests no tag reaches (and that are not referrers of reachable ones)')
    .option('--grace <duration>', 'keep anything younger than this (default: --gc-grace setting, 1h)')
    .option('--root <dir>', 'storage directory (default as for serve)')
    .option('--storage <url>', 'collect in S3 instead: s3://BUCKET[/PREFIX], as given to the instances (run from one place only)')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint')
    .option('--s3-region <region>', 'S3 region')
    .option('--s3-force-path-style', 'path-style bucket addressing')
    .action(async (flags: { dryRun?: boolean; untagged?: boolean; grace?: string; storage?: string; s3Endpoint?: string; s3Region?: string; s3ForcePathStyle?: boolean }, cmd: Command) => {
      const out = ctx.output(cmd);
      const env = ctx.streams.env ?? process.env;
      const { settings } = await settingsFor(cmd, env, flags.grace !== undefined ? { gcGraceMs: flags.grace } : {});
      const { resolve } = await import('node:path');
      let root = resolve(settings.root ?? (await defaultRoot(env)));
      let storage;
      // `serve` has the same S3 options, and commander may hand them to it: look at both.
      const s3 = { ...(cmd.optsWithGlobals() as typeof flags), ...flags };
      if (s3.storage !== undefined) {
        // GC never creates upload sessions: no upload secret needed, no warning about one.
        storage = await (await import('../../server/storage/open.js')).openServeStorage({ ...s3, storage: s3.storage }, env, () => undefined);
        root = s3.storage;
      } else {
        const { stat } = await import('node:fs/promises');
        const s = await stat(root).catch(() => undefined);
        if (!s?.isDirectory()) throw new UsageError(`no registry storage at ${root} (pass --root DIR)`);
        // Never init(): that clears scratch files a running server may be using.
        const { FilesystemStorage } = await import('../../server/storage/fs.js');
        storage = new FilesystemStorage(root);
      }
      const { collectGarbage } = await import('../../server/ops/gc.js');
      const started = performance.now();
      const report = await collectGarbage(storage.gcStore!(), {
        untagged: flags.untagged === true,
        dryRun: flags.dryRun === true,
        graceMs: settings.gcGraceMs,
      }).finally(() => storage.close());
      const seconds = (performance.now() - started) / 1000;
      if (out.json) {
        out.printJson({ ...report, root, seconds: Math.round(seconds * 1000) / 1000 });
        return;
      }
      for (const w of report.warnings) out.warn(w);
      if (report.removed.length > 0) {
        await out.table(
          ['KIND', 'REPOSITORY', 'DIGEST / SESSION', 'SIZE'],
          report.removed.map((r) => [r.kind, r.repository, r.digest ?? r.id ?? '', formatBytes(r.size)]),
        );
      }
      const count = (k: string) => plural(report.removed.filter((r) => r.kind === k).length, k);
      out.info(
        `${report.dryRun ? 'would remove' : 'removed'} ${count('manifest')}, ${count('blob')}, ${count('upload')}; ` +
          `${report.dryRun ? 'would reclaim' : 'reclaimed'} ${formatBytes(report.bytesReclaimed)}; kept ${plural(report.kept.manifests, 'manifest')}, ` +
          `${plural(report.kept.blobs, 'blob')} in ${plural(report.repositories, 'repository', 'repositories')} (${formatSeconds(seconds)})`,
      );
    });
}
