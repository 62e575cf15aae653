import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerAlive, type UploadSessions } from './fs-uploads.js';

/**
 * What a crash leaves in a filesystem root, cleared when the server starts: temporary files of
 * atomic writes (`.index.json.PID-HEX.tmp`, referrer descriptors alike) whose writer is gone,
 * and upload sessions whose owner process is gone (fs-uploads.ts recoverOrphans).
 */

export interface LeftoverReport {
  tempFiles: number;
  uploads: number;
  uploadBytes: number;
}

/** `.NAME.PID-HEX.tmp` (PID absent in files from before it was recorded). */
const TEMP_FILE = /^\..+\.(?:(\d+)-)?[0-9a-f]{12}\.tmp$/;

export async function clearLeftovers(root: string, uploads: UploadSessions): Promise<LeftoverReport> {
  const tempFiles = await removeTempFiles(root, true);
  const u = await uploads.recoverOrphans();
  return { tempFiles, uploads: u.removed, uploadBytes: u.bytes };
}

/** One line for the operator, or undefined when nothing was left behind. */
export function describeLeftovers(r: LeftoverReport): string | undefined {
  if (r.tempFiles === 0 && r.uploads === 0) return undefined;
  const parts: string[] = [];
  if (r.tempFiles > 0) parts.push(`${r.tempFiles} temporary file${r.tempFiles === 1 ? '' : 's'} of interrupted writes`);
  if (r.uploads > 0) parts.push(`${r.uploads} abandoned upload session${r.uploads === 1 ? '' : 's'} (${r.uploadBytes} bytes)`);
  return `start-up cleanup: removed ${parts.join(' and ')} left by a process that is gone`;
}

async function removeTempFiles(dir: string, top: boolean): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  // A layout's blobs/ holds only content named by digest: nothing to sweep, and it can be huge.
  const isLayout = entries.some((e) => e.name === 'index.json' && e.isFile());
  let removed = 0;
  for (const e of entries) {
    if (e.isDirectory()) {
      if (top && (e.name === '_blobs' || e.name === '_uploads' || e.name === '_tmp')) continue;
      if (isLayout && e.name === 'blobs') continue;
      removed += await removeTempFiles(join(dir, e.name), false);
      continue;
    }
    const m = TEMP_FILE.exec(e.name);
    if (!m || !e.isFile()) continue;
    // Another live process (regctl serve gc on the same root) may be writing it right now.
    if (m[1] !== undefined && Number(m[1]) !== process.pid && ownerAlive(Number(m[1]))) continue;
    await rm(join(dir, e.name), { force: true });
    removed++;
  }
  return removed;
}
