// Runs every benchmark in one go (regctl against skopeo and Debian's docker-registry on the same
// generated data) and prints each one's table. Not part of `npm test`.
// Usage: npm run bench [-- --quick] [-- --only serve,copy]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? argv[onlyAt + 1]?.split(',') : undefined;

// Each entry: script and the arguments of a quick smoke run.
const benches = [
  ['client', []],
  ['serve', ['--size-mib', '100', '--tags', '2000']],
  ['copy', ['--quick']],
  ['archive', ['--quick']],
  ['s3', ['--size-mib', '50']],
  ['load', ['--duration', '10']],
  ['slowloris', ['--seconds', '5']],
];

const build = spawnSync('npx', ['tsc', '-p', 'src'], { cwd: join(here, '..'), stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

let failed = 0;
for (const [name, quickArgs] of benches) {
  if (only && !only.includes(name)) continue;
  const script = join(here, `${name}.mjs`);
  console.log(`\n=== bench/${name}.mjs ${quick ? '(quick)' : ''}`);
  const r = spawnSync(process.execPath, [script, ...(quick ? quickArgs : [])], { stdio: 'inherit' });
  if (r.error?.code === 'ENOENT' || r.status !== 0) {
    console.log(`bench/${name}.mjs exited with ${r.status}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
