/**
 * Sharded evaluation. The work of an evaluation is cut into units, one generation batch of one run
 * each (run-major, then batch), so a shard generates and classifies exactly the batches the unsharded
 * run would; shard i of n takes units [floor(i U / n), floor((i + 1) U / n)). A shard record holds,
 * per image, its label, seed, feature vector and classifier logits (any dimensions), the search
 * summaries and times, and what merging needs to check that shards belong together (model hashes,
 * settings, seeds, layout). Shard 0 also carries the reference statistics and the real-image features
 * of the noise floor. Scoring (metrics, bootstrap) happens only when the shards are merged.
 */
import { createHash } from 'node:crypto'
import { readFile, rename, writeFile } from 'node:fs/promises'
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import type { SearchHint, SearchSummary } from '../../src-shared/engine/search-summary'
import type { StrategyConfig, StrategyKind } from '../../src-shared/engine/strategies'
import type { GaussianStats } from '../../src-shared/metrics/metrics'
import type { DeviceChoice, Params } from '../../src-shared/protocol'
import type { HostClient } from '../host/client'
import type { CodeProvenance, ModelProvenance } from './provenance'
import { canonicalJson } from './provenance'

type SamplingParams = Params<'generate'>['sampling']

export const SHARD_FORMAT = 'var-studio-eval-shard/1'

export interface ShardSpec {
  readonly index: number
  readonly count: number
}

/** `--shard i/n`: 0 <= i < n. */
export function parseShard(value: string): ShardSpec {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value)
  if (!m) throw new InvalidRequestError('--shard', `--shard: expected i/n (e.g. 0/4), got "${value}"`)
  const index = Number(m[1])
  const count = Number(m[2])
  if (count < 1) throw new InvalidRequestError('--shard', `--shard ${value}: n must be at least 1, got 0`)
  if (index >= count) {
    throw new InvalidRequestError(
      '--shard',
      `--shard ${value}: index ${index} is out of range for ${count} shards (0..${count - 1})`,
    )
  }
  return { index, count }
}

export interface EvalRunSpec {
  readonly label: string
  readonly kind: StrategyKind
  readonly N: number | null
  readonly strategy: StrategyConfig
  /** 1: seeds S.., 2: the baseline's second block S + n.. */
  readonly block: number
}

/** What every shard of one evaluation shares besides the model and the seeds. */
export interface EvalSettings {
  readonly perClass: number
  readonly numClasses: number
  readonly sampling: SamplingParams
  readonly searchDefaults: unknown
  readonly runs: readonly EvalRunSpec[]
  readonly bootstrap: { readonly resamples: number; readonly level: number; readonly seed: number }
  readonly noNoise: boolean
  /** scored by a feature network (eval --feature-net) instead of the model's classifier */
  readonly scoring?: FeatureScoring
}

/** How a feature network scored the images: what merging needs, and what shards must share. */
export interface FeatureScoring {
  readonly kind: 'feature-net'
  /** the network file's name and size (paths may differ between cluster nodes) */
  readonly network: string
  readonly networkBytes: number
  readonly featuresOutput: string
  readonly logitsOutput: string | null
  readonly featureDim: number
  readonly numClasses: number
  /** the reference's name */
  readonly reference: string
}

/** A feature network's outputs for a block of images (eval --feature-net). */
export interface ScoredBlock {
  readonly numClasses: number
  readonly logits: Float32Array
  readonly featureDim: number
  readonly features: Float32Array
}

export interface EvalSeeds {
  readonly first: number
  readonly last: number
  readonly secondBlock: number | null
}

export interface ShardLayout {
  readonly shards: number
  /** runs x batches per run */
  readonly units: number
  readonly batchSize: number
  readonly imagesPerRun: number
}

export interface Unit {
  readonly run: number
  readonly start: number
  readonly count: number
}

export function layoutOf(runs: number, imagesPerRun: number, batchSize: number, shards: number): ShardLayout {
  return { shards, units: runs * Math.ceil(imagesPerRun / batchSize), batchSize, imagesPerRun }
}

/** The units of shard `index`, merged into one contiguous range per run. */
export function shardUnits(layout: ShardLayout, index: number): Unit[] {
  const perRun = Math.ceil(layout.imagesPerRun / layout.batchSize)
  const from = Math.floor((index * layout.units) / layout.shards)
  const to = Math.floor(((index + 1) * layout.units) / layout.shards)
  const out: Unit[] = []
  for (let u = from; u < to; u++) {
    const run = Math.floor(u / perRun)
    const start = (u % perRun) * layout.batchSize
    const count = Math.min(layout.batchSize, layout.imagesPerRun - start)
    const last = out.at(-1)
    if (last && last.run === run && last.start + last.count === start) {
      out[out.length - 1] = { run, start: last.start, count: last.count + count }
    } else out.push({ run, start, count })
  }
  return out
}

/** The evaluated images of one unit range: labels, seeds and the classifier's outputs. */
export interface Part extends Unit {
  readonly seconds: number
  readonly search: readonly SearchSummary[]
  /** the model's calibrated values the host offered in the search notes (search strategies) */
  readonly hint?: SearchHint
  readonly labels: readonly number[]
  readonly seeds: readonly number[]
  /** logits per image (any number of classes) */
  readonly numClasses: number
  readonly logits: Float32Array
  /** a feature vector per image (any dimension) */
  readonly featureDim: number
  readonly features: Float32Array
}

export interface ReferencePart extends GaussianStats {
  readonly source: string
}

export interface RealPart {
  readonly count: number
  readonly dim: number
  readonly features: Float32Array
}

export interface ShardData {
  readonly format: typeof SHARD_FORMAT
  readonly shard: ShardSpec
  readonly model: ModelProvenance
  readonly code: CodeProvenance
  readonly settings: EvalSettings
  readonly seeds: EvalSeeds
  readonly layout: ShardLayout
  readonly provider: string
  readonly command: readonly string[]
  /** where this shard read its model and test data (may differ between cluster nodes) */
  readonly paths: { readonly modelDir: string; readonly data: string }
  readonly parts: readonly Part[]
  readonly reference?: ReferencePart
  readonly real?: RealPart
}

export const shardFileName = (s: ShardSpec): string => `shard-${s.index}-of-${s.count}.json`

const b64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64')

function f32(text: unknown, length: number, what: string): Float32Array {
  if (typeof text !== 'string') throw new Error(`${what} is missing`)
  const buf = Buffer.from(text, 'base64')
  if (buf.byteLength !== length * 4) {
    throw new Error(`${what} holds ${buf.byteLength / 4} values, expected ${length}`)
  }
  const out = new Float32Array(length)
  new Uint8Array(out.buffer).set(buf)
  return out
}

/** The record as JSON, its typed arrays in base64 and a sha256 of the rest at the end. */
export function encodeShard(d: ShardData): string {
  const body = {
    ...d,
    parts: d.parts.map((p) => ({ ...p, logits: b64(p.logits), features: b64(p.features) })),
    ...(d.real ? { real: { ...d.real, features: b64(d.real.features) } } : {}),
  }
  const text = canonicalJson(body)
  const checksum = createHash('sha256').update(text).digest('hex')
  return `${JSON.stringify({ checksum, body: JSON.parse(text) as unknown })}\n`
}

export async function writeShard(file: string, d: ShardData): Promise<void> {
  await writeFile(`${file}.part`, encodeShard(d))
  await rename(`${file}.part`, file)
}

/** Reads and checks one shard file; a truncated, altered or foreign-format file is refused by name. */
export async function readShard(file: string): Promise<ShardData> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new StudioError(`${file}: cannot read the shard file (${(error as Error).message})`)
  }
  let outer: { checksum?: unknown; body?: unknown }
  try {
    outer = JSON.parse(text) as typeof outer
  } catch {
    throw new StudioError(`${file}: truncated or corrupt shard file (not complete JSON); run the shard again`)
  }
  const body = outer.body as Record<string, unknown> | undefined
  if (!body || typeof body !== 'object' || body.format !== SHARD_FORMAT) {
    throw new StudioError(`${file}: not an eval shard file (${SHARD_FORMAT})`)
  }
  const sum = createHash('sha256').update(canonicalJson(body)).digest('hex')
  if (sum !== outer.checksum) {
    throw new StudioError(
      `${file}: corrupt shard file (its checksum does not match its content); run the shard again`,
    )
  }
  try {
    const raw = body as unknown as ShardData & {
      parts: (Omit<Part, 'logits' | 'features'> & { logits: unknown; features: unknown })[]
      real?: Omit<RealPart, 'features'> & { features: unknown }
    }
    const parts = raw.parts.map((p, i) => ({
      ...p,
      logits: f32(p.logits, p.count * p.numClasses, `part ${i} logits`),
      features: f32(p.features, p.count * p.featureDim, `part ${i} features`),
    }))
    const real = raw.real
      ? { ...raw.real, features: f32(raw.real.features, raw.real.count * raw.real.dim, 'real features') }
      : undefined
    return { ...raw, parts, ...(real ? { real } : {}) }
  } catch (error) {
    throw new StudioError(`${file}: corrupt shard file (${(error as Error).message})`)
  }
}

export interface GenerateDeps {
  readonly client: HostClient
  readonly dir: string
  readonly device: DeviceChoice
  readonly sampling: SamplingParams
  readonly batchSize: number
  readonly runs: readonly EvalRunSpec[]
  /** the class of image i of a run */
  readonly classOf: readonly number[]
  readonly seedOf: (run: EvalRunSpec, i: number) => number
  /** the hint the host gives the search notes of this run, so a merge can write the same notes */
  readonly hintOf: (run: EvalRunSpec) => SearchHint | undefined
  readonly signal: AbortSignal
  /** progress per unit range: label, then done/total steps */
  readonly progress: (label: string) => { update: (done: number, total: number) => void; finish: () => void }
  readonly log: (line: string) => void
  /** scores a block of images [count, C, H, W] in [0, 1] instead of the model's classifier */
  readonly score?: (
    pixels: Float32Array,
    count: number,
    shape: { readonly C: number; readonly H: number; readonly W: number },
    unit: Unit,
  ) => Promise<ScoredBlock>
}

/** Generates and classifies the images of each unit range (generation batches of the unsharded run). */
export async function generateParts(
  units: readonly Unit[],
  d: GenerateDeps,
): Promise<{ parts: Part[]; provider: string }> {
  const parts: Part[] = []
  let provider = ''
  for (const [ui, unit] of units.entries()) {
    const run = d.runs.at(unit.run)
    if (!run) throw new StudioError(`no run ${unit.run}`)
    const index = Array.from({ length: unit.count }, (_, i) => unit.start + i)
    const items = index.map((i) => ({ classId: d.classOf[i] ?? 0, seed: d.seedOf(run, i) }))
    const whole = unit.start === 0 && unit.count === d.classOf.length
    const label = `eval ${ui + 1}/${units.length} ${run.label}${whole ? '' : ` images ${unit.start}..${unit.start + unit.count - 1}`}`
    const bar = d.progress(label)
    const t0 = performance.now()
    const result = await d.client.call(
      'generate',
      {
        dir: d.dir,
        items,
        device: d.device,
        sampling: d.sampling,
        strategy: run.strategy,
        batchSize: d.batchSize,
      },
      {
        signal: d.signal,
        onProgress: (p) => {
          if (p.kind === 'load') return
          const perBatch = p.scales * p.generations
          bar.update(p.batch * perBatch + p.generation * p.scales + p.si + 1, p.batches * perBatch)
        },
      },
    )
    const seconds = (performance.now() - t0) / 1000
    bar.finish()
    provider = result.provider.provider
    const size = result.channels * result.width * result.height
    const pixels = new Float32Array(result.images.length * size)
    result.images.forEach((img, i) => {
      pixels.set(img.pixels, i * size)
    })
    // classified in passes of the generation batch, so every shard layout sees the same passes
    const shape = { C: result.channels, H: result.height, W: result.width }
    const cls = d.score
      ? await d.score(pixels, result.images.length, shape, unit)
      : await d.client.call(
          'classify',
          {
            dir: d.dir,
            device: d.device,
            images: pixels,
            count: result.images.length,
            batchSize: d.batchSize,
          },
          { signal: d.signal },
        )
    const hint = d.hintOf(run)
    parts.push({
      ...unit,
      seconds,
      search: result.search ?? [],
      ...(hint ? { hint } : {}),
      labels: result.images.map((img) => img.classId),
      seeds: items.map((it) => it.seed),
      numClasses: cls.numClasses,
      logits: cls.logits,
      featureDim: cls.featureDim,
      features: cls.features,
    })
    for (const note of (result.search ?? []).flatMap((s) => s.notes)) d.log(`note: ${run.label}: ${note}`)
    d.log(`${label}: ${seconds.toFixed(1)} s`)
  }
  return { parts, provider }
}
