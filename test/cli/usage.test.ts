import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

// Usage mistakes a new user makes first: each is exit 2 with the explanation on stderr.

describe('regctl with no arguments', () => {
  it('is a usage error (exit 2, as git does): the help goes to stderr, nothing to stdout', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: regctl \[options\] \[command\]\n/);
    expect(r.stderr).toContain('\nCommands:\n');
  });

  it('--help is still a success on stdout', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: regctl/);
    expect(r.stderr).toBe('');
  });
});

describe('a tar archive is never written to a terminal (as docker save refuses)', () => {
  // Port 9 (discard) on loopback: the refusal must come before any connection is tried.
  const cases: string[][] = [
    ['export', '127.0.0.1:9/app:1.0', '-'],
    ['export', '--format', 'oci-archive', '127.0.0.1:9/app:1.0', '-'],
    ['export', '127.0.0.1:9/app:1.0', 'docker-archive:-'],
    ['copy', '127.0.0.1:9/app:1.0', 'docker-archive:-'],
    ['copy', '127.0.0.1:9/app:1.0', 'oci-archive:-'],
  ];
  for (const args of cases) {
    it(args.join(' '), async () => {
      const r = await runCli(args, { tty: true });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('error: refusing to write a tar archive to a terminal; redirect stdout or name a file\n');
    });
  }

  it('piped, `export REF -` is allowed (it fails here only because nothing listens)', async () => {
    const r = await runCli(['export', '--progress', 'none', '127.0.0.1:9/app:1.0', '-']);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('terminal');
  });
});
