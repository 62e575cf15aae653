import { createHash, randomBytes, randomInt } from 'node:crypto';
import { gzipSync } from 'node:zlib';

/**
 * The test data of the YAML-configured OCI conformance engine (distribution-spec conformance/
 * testdata.go and the GenerateData step of run.go), rebuilt in TypeScript: images, indexes,
 * artifacts and referrers with random content, serialised the way Go's encoding/json would
 * (struct field order, omitted empty fields, sorted map keys, compact).
 *
 * Everything here is synchronous so that the test file can build the data while vitest collects
 * tests: the list of checks depends on how many blobs, manifests and tags each data set holds.
 */

export type Algo = 'sha256' | 'sha512';

export const MT = {
  exampleConf1: 'application/vnd.example.oci.conformance.v1',
  exampleConf2: 'application/vnd.example.oci.conformance.v2',
  octetStream: 'application/octet-stream',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociImage: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerPrefix: 'application/vnd.oci.image.layer.v1.',
  ociLayerGz: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerNd: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNdGz: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociEmptyJson: 'application/vnd.oci.empty.v1+json',
} as const;

export interface Platform {
  architecture: string;
  os: string;
}

export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  /** base64, as Go marshals a []byte */
  data?: string;
  platform?: Platform;
  artifactType?: string;
}

/** Per-digest switches the engine attaches to pushes and pulls (apiWithFlag). */
export type Flag = 'TagParam' | 'ExpectBadDigest' | 'SkipPullTest';

export function digestOf(algo: Algo, bytes: Buffer | string): string {
  return `${algo}:${createHash(algo).update(bytes).digest('hex')}`;
}

export function algoOf(digest: string): Algo {
  return digest.slice(0, digest.indexOf(':')) as Algo;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** 26 random base32 characters, like Go's crypto/rand.Text(). */
export function randText(): string {
  let s = '';
  for (let i = 0; i < 26; i++) s += BASE32[randomInt(32)];
  return s;
}

/** Go marshals maps with their keys sorted. */
function sortedMap(m: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of Object.keys(m).sort()) out[k] = m[k]!;
  return out;
}

/** A descriptor in image-spec's field order, empty optional fields left out. */
function descJson(d: Desc): Record<string, unknown> {
  const o: Record<string, unknown> = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls?.length) o['urls'] = d.urls;
  if (d.annotations && Object.keys(d.annotations).length) o['annotations'] = sortedMap(d.annotations);
  if (d.data !== undefined && d.data !== '') o['data'] = d.data;
  if (d.platform) o['platform'] = { architecture: d.platform.architecture, os: d.platform.os };
  if (d.artifactType) o['artifactType'] = d.artifactType;
  return o;
}

/** genAddJSONFields: one extra field no spec defines, "org.<random>": "<random>", after the rest. */
function withExtraField(o: Record<string, unknown>): Record<string, unknown> {
  return { ...o, [`org.${randText()}`]: randText() };
}

/** A one-file ustar archive (512-byte header, content padded to 512, two zero blocks). */
function tarOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  const field = (offset: number, length: number, value: string) => header.write(value, offset, length, 'ascii');
  const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, '0') + '\0';
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(content.length, 12));
  field(136, 12, octal(0, 12));
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  // The checksum is computed with its own field as eight spaces.
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

export interface GenOpts {
  algo?: Algo;
  annotations?: Record<string, string>;
  annotationUniq?: boolean;
  artifactType?: string;
  blobSize?: number;
  compress?: boolean;
  configBytes?: Buffer;
  configMediaType?: string;
  descriptorMediaType?: string;
  extraField?: boolean;
  layerBytes?: Buffer;
  layerCount?: number;
  layerMediaType?: string;
  platform?: Platform;
  /** undefined entries: no platform on that index entry (an index of indexes). */
  platforms?: Array<Platform | undefined>;
  setData?: boolean;
  subject?: Desc;
  tag?: string;
}

const AMD64: Platform = { os: 'linux', architecture: 'amd64' };
const ARM64: Platform = { os: 'linux', architecture: 'arm64' };

/** One data set: what gets pushed, what must come back, in push order. */
export class TestData {
  readonly tags = new Map<string, string>();
  readonly tagPushed = new Set<string>();
  readonly desc = new Map<string, Desc>();
  readonly blobs = new Map<string, Buffer>();
  readonly manifests = new Map<string, Buffer>();
  /** Manifests in push order (children before the index that lists them). */
  readonly manOrder: string[] = [];
  /** Subject digest -> the descriptors its referrers list must hold. */
  readonly referrers = new Map<string, Desc[]>();
  readonly pullFlags = new Map<string, Set<Flag>>();
  readonly pushFlags = new Map<string, Set<Flag>>();

  constructor(readonly name: string) {}

  flag(map: Map<string, Set<Flag>>, dig: string, f: Flag): void {
    const s = map.get(dig) ?? new Set<Flag>();
    s.add(f);
    map.set(dig, s);
  }

  addBlob(b: Buffer, o: GenOpts = {}): string {
    const algo = o.algo ?? 'sha256';
    const dig = digestOf(algo, b);
    this.blobs.set(dig, b);
    const d: Desc = { mediaType: o.descriptorMediaType ?? MT.octetStream, digest: dig, size: b.length };
    if (o.setData) d.data = b.toString('base64');
    this.desc.set(dig, d);
    return dig;
  }

  genBlob(o: GenOpts = {}): { digest: string; bytes: Buffer } {
    const bytes = randomBytes(o.blobSize ?? 2048);
    return { digest: this.addBlob(bytes, o), bytes };
  }

  /** A tar layer holding one small text file; returns [compressed digest, uncompressed digest]. */
  genLayer(fileNum: number, o: GenOpts = {}): [string, string] {
    const algo = o.algo ?? 'sha256';
    const compress = o.compress ?? true;
    const file = Buffer.from(
      `Conformance test file contents for file number ${fileNum}.\nTodays lucky number is ${randomBytes(6).readUIntBE(0, 6)}\n`,
    );
    const tar = tarOneFile(`./conformance-${fileNum}.txt`, file);
    const body = compress ? gzipSync(tar) : tar;
    const digComp = digestOf(algo, body);
    // The engine means to record the uncompressed digest here (its buffer stays empty, a slip
    // that changes nothing a registry sees); the port records the real diff_id.
    const digUncomp = digestOf(algo, tar);
    this.desc.set(digUncomp, {
      mediaType: MT.ociLayer,
      digest: digUncomp,
      size: tar.length,
      ...(o.setData ? { data: tar.toString('base64') } : {}),
    });
    this.blobs.set(digComp, body);
    this.desc.set(digComp, {
      mediaType: compress ? MT.ociLayerGz : MT.ociLayer,
      digest: digComp,
      size: body.length,
      ...(o.setData ? { data: body.toString('base64') } : {}),
    });
    return [digComp, digUncomp];
  }

  genConfig(p: Platform, layers: string[], o: GenOpts = {}): string {
    const algo = o.algo ?? 'sha256';
    let config: Record<string, unknown> = {
      author: 'OCI Conformance Test',
      architecture: p.architecture,
      os: p.os,
      config: {},
      rootfs: { type: 'layers', diff_ids: layers },
    };
    if (o.extraField) config = withExtraField(config);
    const body = Buffer.from(JSON.stringify(config));
    const dig = digestOf(algo, body);
    this.blobs.set(dig, body);
    const d: Desc = { mediaType: MT.ociConfig, digest: dig, size: body.length };
    if (o.setData) d.data = body.toString('base64');
    this.desc.set(dig, d);
    return dig;
  }

  private record(body: Buffer, mediaType: string, o: GenOpts, artifactType: string | undefined, annotations?: Record<string, string>): string {
    const dig = digestOf(o.algo ?? 'sha256', body);
    this.manifests.set(dig, body);
    this.manOrder.push(dig);
    const d: Desc = { mediaType, digest: dig, size: body.length };
    if (o.setData) d.data = body.toString('base64');
    this.desc.set(dig, d);
    if (o.subject) {
      const list = this.referrers.get(o.subject.digest) ?? [];
      list.push({
        mediaType,
        digest: dig,
        size: body.length,
        ...(artifactType ? { artifactType } : {}),
        ...(annotations ? { annotations } : {}),
      });
      this.referrers.set(o.subject.digest, list);
    }
    if (o.tag) this.tags.set(o.tag, dig);
    return dig;
  }

  private annotationsFor(o: GenOpts): Record<string, string> | undefined {
    let a = o.annotations;
    if (o.annotationUniq) a = { ...(a ?? {}), [`org.example.${randText()}`]: randText() };
    return a && Object.keys(a).length ? sortedMap(a) : undefined;
  }

  genManifest(conf: Desc, layers: Desc[], o: GenOpts = {}): string {
    const annotations = this.annotationsFor(o);
    let m: Record<string, unknown> = { schemaVersion: 2, mediaType: MT.ociImage };
    if (o.artifactType) m['artifactType'] = o.artifactType;
    m['config'] = descJson(conf);
    m['layers'] = layers.map(descJson);
    if (o.subject) m['subject'] = descJson(o.subject);
    if (annotations) m['annotations'] = annotations;
    if (o.extraField) m = withExtraField(m);
    const body = Buffer.from(JSON.stringify(m));
    return this.record(body, MT.ociImage, o, o.artifactType || conf.mediaType, annotations);
  }

  /** An image (or artifact) with its layers and config. */
  genManifestFull(o: GenOpts = {}): string {
    const g: GenOpts = { layerCount: 2, platform: AMD64, ...o };
    const compressed: string[] = [];
    const uncompressed: string[] = [];
    for (let l = 0; l < g.layerCount!; l++) {
      if (!g.layerMediaType || g.layerMediaType.startsWith(MT.ociLayerPrefix)) {
        const [c, u] = this.genLayer(l, o);
        compressed.push(c);
        uncompressed.push(u);
      } else {
        const lo: GenOpts = { descriptorMediaType: g.layerMediaType, ...o };
        const dig = g.layerBytes !== undefined ? this.addBlob(g.layerBytes, lo) : this.genBlob(lo).digest;
        compressed.push(dig);
        uncompressed.push(dig);
      }
    }
    let cDig: string;
    if (!g.configMediaType || g.configMediaType === MT.ociConfig) {
      cDig = this.genConfig(g.platform!, uncompressed, o);
    } else {
      cDig = this.addBlob(g.configBytes ?? Buffer.alloc(0), { descriptorMediaType: g.configMediaType, ...o });
    }
    return this.genManifest(this.desc.get(cDig)!, compressed.map((d) => this.desc.get(d)!), o);
  }

  genIndex(platforms: Array<Platform | undefined>, manifests: string[], o: GenOpts = {}): string {
    if (platforms.length !== manifests.length) throw new Error('genIndex needs one platform per manifest');
    const annotations = this.annotationsFor(o);
    let ind: Record<string, unknown> = { schemaVersion: 2, mediaType: MT.ociIndex };
    if (o.artifactType) ind['artifactType'] = o.artifactType;
    ind['manifests'] = manifests.map((dig, i) => {
      const d: Desc = { ...this.desc.get(dig)! };
      const p = platforms[i];
      if (p) d.platform = p;
      else delete d.platform;
      return descJson(d);
    });
    if (o.subject) ind['subject'] = descJson(o.subject);
    if (annotations) ind['annotations'] = annotations;
    if (o.extraField) ind = withExtraField(ind);
    const body = Buffer.from(JSON.stringify(ind));
    return this.record(body, MT.ociIndex, o, o.artifactType, annotations);
  }

  /** An index of images (one per platform), every image generated with the same options. */
  genIndexFull(o: GenOpts = {}): string {
    const platforms = o.platforms ?? [AMD64, ARM64];
    const images = platforms.map((p) => this.genManifestFull({ platform: p, ...o }));
    return this.genIndex(platforms, images, o);
  }
}

/** The engine's data switches (config.go configData) and the API switches that shape the data. */
export interface DataConfig {
  image: boolean;
  index: boolean;
  indexList: boolean;
  sparse: boolean;
  artifact: boolean;
  subject: boolean;
  subjectMissing: boolean;
  artifactList: boolean;
  subjectList: boolean;
  dataField: boolean;
  nondistributable: boolean;
  customFields: boolean;
  noLayers: boolean;
  emptyBlob: boolean;
  sha512: boolean;
  /** APIs.Push: no generated data without it */
  push: boolean;
  /** APIs.Manifests.TagParam */
  tagParam: boolean;
  /** Build the ~3.9 MB manifest (the test file builds it for one backend only). */
  largeManifest: boolean;
}

export interface DataSet {
  /** The engine's key (and result name), e.g. "nested-index" */
  id: string;
  /** The engine's description, e.g. "Nested Index" */
  title: string;
  /** Why the engine would not run it; undefined when it runs */
  disabled?: string;
  td: TestData;
}

const ANNOTATION = { 'org.opencontainers.conformance': 'hello conformance test' };

/** run.go GenerateData: every data set, in the engine's order, disabled ones included. */
export function generateData(c: DataConfig): DataSet[] {
  const out: DataSet[] = [];
  if (!c.image || !c.push) return out;
  const add = (id: string, title: string, enabled: boolean, why: string, build: (td: TestData) => void) => {
    const td = new TestData(title);
    if (enabled) build(td);
    out.push({ id, title, td, ...(enabled ? {} : { disabled: why }) });
  };
  const artifactOpts = (): GenOpts => ({
    artifactType: MT.exampleConf1,
    configMediaType: MT.ociEmptyJson,
    configBytes: Buffer.from('{}'),
    layerCount: 1,
    layerMediaType: MT.exampleConf1,
  });

  add('image', 'Image', true, '', (td) => td.genManifestFull({ tag: 'image' }));
  add('image-uncompressed', 'Image Uncompressed', true, '', (td) =>
    td.genManifestFull({ tag: 'image-uncompressed', compress: false }),
  );
  add('large-manifest', 'Image with Large Manifest', c.largeManifest, 'the ~3.9 MB manifest is pushed once, on the filesystem backend', (td) => {
    // 390 annotations of 10,000 bytes: a manifest just under the 4 MiB a registry should accept.
    const large: Record<string, string> = {};
    const value = 'A'.repeat(10000);
    for (let i = 0; i < 390; i++) large[`large-annotation-${i}`] = value;
    td.genManifestFull({ tag: 'large-manifest', annotations: large });
  });
  add('index', 'Index', c.index, 'data.index is off', (td) => td.genIndexFull({ tag: 'index', platforms: [AMD64, ARM64] }));
  add('nested-index', 'Nested Index', c.index && c.indexList, 'data.index or data.indexList is off', (td) => {
    const a = td.genIndexFull({ platforms: [AMD64, ARM64] });
    const b = td.genIndexFull({ platforms: [AMD64, ARM64] });
    td.genIndex([undefined, undefined], [a, b], { tag: 'index-of-index' });
  });
  add('empty-index', 'Empty Index', c.index, 'data.index is off', (td) => td.genIndexFull({ tag: 'index', platforms: [] }));
  add('artifact', 'Artifact', c.artifact, 'data.artifact is off', (td) => td.genManifestFull({ tag: 'artifact', ...artifactOpts() }));
  add('artifact-index', 'Artifact Index', c.artifactList, 'data.artifactList is off', (td) =>
    td.genIndexFull({ tag: 'artifact-index', platforms: [AMD64, ARM64], ...artifactOpts() }),
  );
  add('artifact-without-layers', 'Artifact without Layers', c.artifact, 'data.artifact is off', (td) =>
    // "without layers": the one layer is the empty JSON blob.
    td.genManifestFull({
      tag: 'artifact-without-layers',
      ...artifactOpts(),
      layerBytes: Buffer.from('{}'),
      layerMediaType: MT.ociEmptyJson,
    }),
  );
  add('artifacts-with-subject', 'Artifacts with Subject', c.subject, 'data.subject is off', (td) => {
    const subjDig = td.genManifestFull({ tag: 'image' });
    const subject = { ...td.desc.get(subjDig)! };
    td.genManifestFull({ subject });
    td.genManifestFull({ ...artifactOpts(), annotations: ANNOTATION, annotationUniq: true, subject, tag: 'tagged-artifact1' });
    td.genManifestFull({
      ...artifactOpts(),
      artifactType: MT.exampleConf2,
      layerMediaType: MT.octetStream,
      annotations: ANNOTATION,
      annotationUniq: true,
      subject,
      tag: 'tagged-artifact2',
    });
  });
  add('index-with-subject', 'Index with Subject', c.subjectList, 'data.subjectList is off', (td) => {
    const subjDig = td.genIndexFull({ tag: 'index' });
    const subject = { ...td.desc.get(subjDig)! };
    // The options reach the index's images too: each is an artifact with the same subject.
    td.genIndexFull({ ...artifactOpts(), annotations: ANNOTATION, annotationUniq: true, subject, tag: 'tagged-artifact' });
  });
  add('missing-subject', 'Missing Subject', c.subjectMissing, 'data.subjectMissing is off', (td) => {
    const subject: Desc = { mediaType: MT.ociImage, size: 123, digest: digestOf('sha256', 'missing content') };
    td.genManifestFull({ ...artifactOpts(), annotations: ANNOTATION, annotationUniq: true, subject, tag: 'tagged-artifact' });
  });
  add('data-field', 'Data Field', c.dataField, 'data.dataField is off', (td) => td.genManifestFull({ tag: 'data-field', setData: true }));
  add('non-distributable-layers', 'Non-distributable Layers', c.nondistributable, 'data.nondistributable is off', (td) => {
    // Two foreign layers that live at their urls (never pushed) and one ordinary layer.
    const gz = digestOf('sha256', randomBytes(256));
    const plain = digestOf('sha256', randomBytes(256));
    const layers: Desc[] = [
      { mediaType: MT.ociLayerNdGz, digest: gz, size: 123456, urls: [`https://store.example.com/blobs/sha256/${gz.slice(7)}`] },
      { mediaType: MT.ociLayerNd, digest: plain, size: 12345, urls: [`https://store.example.com/blobs/sha256/${plain.slice(7)}`] },
    ];
    const [c2, u2] = td.genLayer(1);
    layers.push(td.desc.get(c2)!);
    const conf = td.genConfig(AMD64, [digestOf('sha256', randomBytes(256)), plain, u2]);
    td.genManifest(td.desc.get(conf)!, layers, { tag: 'non-distributable-image' });
  });
  add('custom-fields', 'Custom Fields', c.customFields, 'data.customFields is off', (td) =>
    td.genIndexFull({ tag: 'custom-fields', platforms: [AMD64, ARM64], extraField: true }),
  );
  add('no-layers', 'No Layers', c.noLayers, 'data.noLayers is off', (td) => td.genManifestFull({ tag: 'no-layers', layerCount: 0 }));
  add('sparse', 'Sparse Manifests', c.sparse, 'data.sparse is off (the engine default: a registry MAY reject manifests whose blobs it lacks)', (td) => {
    td.genManifestFull({ tag: 'sparse-image' });
    for (const [dig, d] of td.desc) {
      if (td.blobs.has(dig) && d.mediaType.startsWith(MT.ociLayerPrefix)) {
        td.desc.delete(dig);
        td.blobs.delete(dig);
        break;
      }
    }
    const image = td.genManifestFull({ platform: AMD64 });
    const randDig = digestOf('sha256', randomBytes(1024));
    td.desc.set(randDig, { mediaType: MT.ociImage, digest: randDig, size: 1024 });
    td.genIndex([AMD64, ARM64], [image, randDig], { tag: 'sparse-index' });
  });
  add('sha512', 'Digest Algorithm sha512', c.sha512, 'data.sha512 is off', (td) => td.genIndexFull({ algo: 'sha512' }));
  const tagParam = (td: TestData, tag: string, algo: Algo) => {
    td.genIndexFull({ tag, algo });
    // One tag per manifest on top, so the index carries two.
    td.manOrder.forEach((dig, i) => {
      td.tags.set(`${tag}-${i}`, dig);
      td.flag(td.pushFlags, dig, 'TagParam');
    });
  };
  add('tag-param-sha256', 'Tag Param', c.tagParam, 'apis.manifests.tagParam is off (the engine enables it only for OCI_VERSION=dev)', (td) =>
    tagParam(td, 'tag-param-sha256', 'sha256'),
  );
  add('tag-param-sha512', 'Tag Param sha512', c.tagParam && c.sha512, 'apis.manifests.tagParam is off (the engine enables it only for OCI_VERSION=dev)', (td) =>
    tagParam(td, 'tag-param-sha512', 'sha512'),
  );
  add('bad-digest-image', 'Bad Digest Image', true, '', (td) => {
    const dig = td.genManifestFull();
    td.flag(td.pullFlags, dig, 'SkipPullTest');
    td.flag(td.pushFlags, dig, 'ExpectBadDigest');
    // Trailing whitespace: the body no longer has the digest it is pushed under.
    td.manifests.set(dig, Buffer.concat([td.manifests.get(dig)!, Buffer.from('  ')]));
  });
  return out;
}

/** The mediaType field of a manifest body, OCI image when it has none (api.go detectMediaType). */
export function detectMediaType(body: Buffer): string {
  try {
    const m = JSON.parse(body.toString('utf8')) as { mediaType?: unknown };
    if (typeof m.mediaType === 'string' && m.mediaType !== '') return m.mediaType;
  } catch {
    // not JSON: the default below
  }
  return MT.ociImage;
}

/** The subject descriptor of a manifest body, if any (api.go detectSubject). */
export function detectSubject(body: Buffer): Desc | undefined {
  try {
    const m = JSON.parse(body.toString('utf8')) as { subject?: Desc };
    return m.subject && typeof m.subject.digest === 'string' ? m.subject : undefined;
  } catch {
    return undefined;
  }
}
