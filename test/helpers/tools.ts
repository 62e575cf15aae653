import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The absolute path of `name` on PATH, or undefined when it is not there. */
export function findTool(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * The path of a tool the tests need. CI installs every one (.ci/run), so a missing tool is a
 * failure that names the Debian package to install, never a silent skip.
 */
export function requireTool(name: string, aptPackage: string): string {
  const found = findTool(name);
  if (!found) throw new Error(`${name} is not installed; the tests need it: apt-get install -y ${aptPackage}`);
  return found;
}
