import { UsageError } from '../errors.js';
import type { Platform } from './manifest.js';

/** Parse `os/arch[/variant]`, e.g. `linux/arm64/v8`. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new UsageError(`invalid platform "${s}": expected os/arch[/variant], e.g. linux/amd64`);
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** arm64 defaults to v8, arm to v7: treat the default variant as equal to none. */
function normVariant(arch: string, variant: string | undefined): string {
  if (variant) return variant;
  if (arch === 'arm64') return 'v8';
  if (arch === 'arm') return 'v7';
  return '';
}

/** Does `candidate` (from an index) satisfy what the user asked for (`wanted`)? */
export function platformMatches(wanted: Platform, candidate: Platform | undefined): boolean {
  if (!candidate) return false;
  if (wanted.os !== candidate.os || wanted.architecture !== candidate.architecture) return false;
  if (wanted.variant === undefined) return true;
  return normVariant(wanted.architecture, wanted.variant) === normVariant(candidate.architecture, candidate.variant);
}
