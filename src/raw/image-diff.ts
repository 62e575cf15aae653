import type { Platform } from '../oci/manifest.js';
import { readConfigBytes, resolveImage, type ImageRef } from './image-config.js';

export interface LayerEntry {
  digest: string;
  size: number;
  mediaType: string;
}

export interface ConfigChange {
  /** Dotted path into the config JSON, e.g. `config.Env`. */
  path: string;
  /** JSON value on each side; absent when the field is missing there. */
  a?: unknown;
  b?: unknown;
}

export interface ImageDiff {
  a: { digest: string; config: string };
  b: { digest: string; config: string };
  identical: boolean;
  layers: { same: LayerEntry[]; removed: LayerEntry[]; added: LayerEntry[] };
  config: ConfigChange[];
}

/** Config fields the layer comparison already covers. */
const SKIPPED = new Set(['rootfs', 'history']);

/**
 * Flatten objects to dotted paths; arrays and scalars are leaves (an Env list is one value:
 * its order matters and element-wise paths would read worse).
 */
function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (prefix === '' && SKIPPED.has(k)) continue;
      flatten(v, prefix ? `${prefix}.${k}` : k, out);
    }
    return;
  }
  out.set(prefix, value);
}

function configFields(bytes: Buffer): Map<string, unknown> {
  const out = new Map<string, unknown>();
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    json = {};
  }
  flatten(json, '', out);
  return out;
}

const entry = (d: LayerEntry): LayerEntry => ({ digest: d.digest, size: d.size, mediaType: d.mediaType });

/**
 * Two images side by side: layers by digest (in B's order for same/added, A's for removed) and
 * the config fields whose values differ, sorted by path.
 */
export async function diffImages(a: ImageRef, b: ImageRef, platform?: Platform): Promise<ImageDiff> {
  const [ra, rb] = await Promise.all([resolveImage(a, platform), resolveImage(b, platform)]);
  const [ca, cb] = await Promise.all([readConfigBytes(a.source, ra.image.config), readConfigBytes(b.source, rb.image.config)]);
  const inA = new Set(ra.image.layers.map((l) => l.digest));
  const inB = new Set(rb.image.layers.map((l) => l.digest));
  const layers = {
    same: rb.image.layers.filter((l) => inA.has(l.digest)).map(entry),
    removed: ra.image.layers.filter((l) => !inB.has(l.digest)).map(entry),
    added: rb.image.layers.filter((l) => !inA.has(l.digest)).map(entry),
  };
  const fa = configFields(ca);
  const fb = configFields(cb);
  const config: ConfigChange[] = [];
  for (const path of [...new Set([...fa.keys(), ...fb.keys()])].sort()) {
    const va = fa.get(path);
    const vb = fb.get(path);
    if (JSON.stringify(va) === JSON.stringify(vb)) continue;
    config.push({ path, ...(fa.has(path) ? { a: va } : {}), ...(fb.has(path) ? { b: vb } : {}) });
  }
  return {
    a: { digest: ra.manifest.digest, config: ra.image.config.digest },
    b: { digest: rb.manifest.digest, config: rb.image.config.digest },
    identical: ra.manifest.digest === rb.manifest.digest || (layers.removed.length === 0 && layers.added.length === 0 && config.length === 0 && ra.image.layers.length === rb.image.layers.length),
    layers,
    config,
  };
}
