/**
 * `var-studio eval merge`: reads shard records, checks that they are the n shards of one evaluation
 * (same model hashes, settings, seeds and layout; each index once; none missing) and joins their
 * images back into the unsharded order, so scoring sees exactly what an unsharded run sees.
 */
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import {
  type SearchHint,
  type SearchKnobs,
  type SearchRow,
  type SearchSummary,
  summarizeSearch,
} from '../../src-shared/engine/search-summary'
import type { StrategyConfig } from '../../src-shared/engine/strategies'
import { type CodeProvenance, digest } from './provenance'
import { type Part, readShard, type ShardData, shardFileName, shardUnits } from './shard'

/** Shard files named on the command line: files as given, folders for their shard-*.json. */
export async function shardFiles(paths: readonly string[]): Promise<string[]> {
  if (paths.length === 0) {
    throw new InvalidRequestError('merge', 'eval merge: name the shard folders or files (eval merge DIR...)')
  }
  const files: string[] = []
  for (const p of paths) {
    let isDir: boolean
    try {
      isDir = (await stat(p)).isDirectory()
    } catch {
      throw new StudioError(`${p}: no such shard file or folder`)
    }
    if (!isDir) {
      files.push(p)
      continue
    }
    const found = (await readdir(p)).filter((f) => /^shard-\d+-of-\d+\.json$/.test(f)).sort()
    if (found.length === 0) throw new StudioError(`${p}: holds no shard-*-of-*.json files`)
    files.push(...found.map((f) => join(p, f)))
  }
  return files
}

export interface LoadedShard {
  readonly file: string
  readonly data: ShardData
}

/** What must be equal between shards of one evaluation, in the order a difference is reported. */
const CHECKS = [
  ['model hash differs', (d: ShardData) => digest([d.model.manifestSha256, d.model.files])],
  ['seeds differ', (d: ShardData) => digest(d.seeds)],
  ['layout differs', (d: ShardData) => digest(d.layout)],
  ['settings differ', (d: ShardData) => digest(d.settings)],
] as const

/** Every shard of one evaluation, in index order; refuses foreign, duplicated and missing shards by name. */
export async function loadShards(paths: readonly string[]): Promise<LoadedShard[]> {
  const files = await shardFiles(paths)
  const loaded: LoadedShard[] = []
  for (const file of files) loaded.push({ file, data: await readShard(file) })
  const first = loaded.at(0)
  if (!first) throw new StudioError('eval merge: no shard files')
  for (const s of loaded.slice(1)) {
    for (const [what, key] of CHECKS) {
      if (key(s.data) !== key(first.data)) {
        throw new StudioError(
          `${s.file}: foreign shard: its ${what} from ${first.file} (shards of another evaluation)`,
        )
      }
    }
  }
  const n = first.data.layout.shards
  const byIndex = new Map<number, LoadedShard>()
  for (const s of loaded) {
    const { index, count } = s.data.shard
    if (count !== n || index < 0 || index >= n) {
      throw new StudioError(`${s.file}: shard ${index}/${count} does not fit the layout of ${n} shards`)
    }
    const twin = byIndex.get(index)
    if (twin) throw new StudioError(`duplicated shard ${index} of ${n}: ${twin.file} and ${s.file}`)
    // the parts must be exactly this index's units
    const expected = JSON.stringify(shardUnits(s.data.layout, index))
    const got = JSON.stringify(s.data.parts.map((p) => ({ run: p.run, start: p.start, count: p.count })))
    if (expected !== got)
      throw new StudioError(`${s.file}: its images are not those of shard ${index} of ${n}`)
    byIndex.set(index, s)
  }
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !byIndex.has(i))
  if (missing.length > 0) {
    throw new StudioError(
      `missing shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${n} ` +
        `(${missing.map((i) => shardFileName({ index: i, count: n })).join(', ')}); run ${missing.length > 1 ? 'them' : 'it'} (--shard ${missing[0] ?? 0}/${n}) and merge again`,
    )
  }
  return Array.from({ length: n }, (_, i) => byIndex.get(i) as LoadedShard)
}

/** One run's images in the unsharded order. */
export interface JoinedRun {
  readonly n: number
  readonly numClasses: number
  readonly featureDim: number
  readonly labels: number[]
  readonly logits: Float32Array
  readonly features: Float32Array
  readonly seconds: number
  readonly search: SearchSummary[]
}

/**
 * Rows whose kept counts, branches, ratios and distances have exactly the given summary's count,
 * sum, extremes and Top-k count: summarizeSearch over them gives the numbers and notes it gives
 * over the real rows.
 */
function rowsLike(rows: number, keptSum: number, s: Omit<SearchSummary, 'si' | 'notes'>): SearchRow[] {
  // row 0 keeps the fewest, row 1 the most, the others the fewest plus what the sum leaves
  let rest = keptSum - s.keptMax - (rows - 1) * s.keptMin
  return Array.from({ length: rows }, (_, i) => {
    let kept = s.keptMin
    if (i === 1) kept = s.keptMax
    else if (i > 1) {
      const add = Math.min(s.keptMax - s.keptMin, rest)
      kept += add
      rest -= add
    }
    return {
      kept: Array.from({ length: kept }, (_, j) => j),
      ratio: s.ratioMax,
      branch: i < s.topkRows ? 'top-k' : 'random-k',
      densities: [],
      ...(s.distanceMax !== undefined ? { distanceMax: s.distanceMax } : {}),
    }
  })
}

/**
 * Per-scale search summaries of consecutive parts of one run as one summary over all their rows,
 * the notes included (summarizeSearch again, under the run's knobs and the model's hint).
 */
export function joinSummaries(
  lists: readonly (readonly SearchSummary[])[],
  strategy: StrategyConfig,
  hint: SearchHint | undefined,
): SearchSummary[] {
  const first = lists.at(0)
  if (!first) return []
  if (lists.length === 1) return [...first]
  return first.map((s, j) => {
    const all = lists.map((l) => l.at(j)).filter((x): x is SearchSummary => x !== undefined)
    const rows = all.reduce((a, x) => a + x.rows, 0)
    const keptSum = all.reduce((a, x) => a + Math.round(x.keptMean * x.rows), 0)
    const measured = all.map((x) => x.distanceMax).filter((d): d is number => d !== undefined)
    const joined = {
      rows,
      N: s.N,
      k: s.k,
      alpha: s.alpha,
      dedup: s.dedup,
      keptMean: keptSum / Math.max(1, rows),
      keptMin: Math.min(...all.map((x) => x.keptMin)),
      keptMax: Math.max(...all.map((x) => x.keptMax)),
      topkRows: all.reduce((a, x) => a + x.topkRows, 0),
      ratioMax: Math.max(...all.map((x) => x.ratioMax)),
      ...(measured.length > 0 ? { distanceMax: Math.max(...measured) } : {}),
    }
    return summarizeSearch(s.si, rowsLike(rows, keptSum, joined), strategy as SearchKnobs, hint)
  })
}

/** The parts of all shards joined per run, in image order. */
export function joinRuns(shards: readonly ShardData[]): JoinedRun[] {
  const first = shards.at(0)
  if (!first) return []
  const runs = first.settings.runs
  return runs.map((run, ri) => {
    const parts: Part[] = shards
      .flatMap((s) => s.parts.filter((p) => p.run === ri))
      .sort((a, b) => a.start - b.start)
    const n = parts.reduce((a, p) => a + p.count, 0)
    const K = parts[0]?.numClasses ?? 0
    const dim = parts[0]?.featureDim ?? 0
    if (parts.some((p) => p.numClasses !== K || p.featureDim !== dim)) {
      throw new StudioError(`run ${ri}: shards disagree on the classifier's output sizes`)
    }
    const logits = new Float32Array(n * K)
    const features = new Float32Array(n * dim)
    const labels: number[] = []
    let at = 0
    for (const p of parts) {
      if (p.start !== at) throw new StudioError(`run ${ri}: images ${at}.. are missing from the shards`)
      logits.set(p.logits, at * K)
      features.set(p.features, at * dim)
      labels.push(...p.labels)
      at += p.count
    }
    return {
      n,
      numClasses: K,
      featureDim: dim,
      labels,
      logits,
      features,
      seconds: parts.reduce((a, p) => a + p.seconds, 0),
      search: joinSummaries(
        parts.map((p) => p.search),
        run.strategy,
        parts.at(0)?.hint,
      ),
    }
  })
}

/** The distinct code versions the shards ran on (a re-run shard may come from a later checkout). */
export function shardCode(shards: readonly ShardData[]): CodeProvenance[] {
  const seen = new Map<string, CodeProvenance>()
  for (const s of shards) seen.set(`${s.code.version}|${s.code.commit}`, s.code)
  return [...seen.values()]
}

/** The provenance block of an eval.json: model, code, settings, seeds and the shards it was joined from. */
export function evalProvenance(shards: readonly LoadedShard[], code: CodeProvenance): unknown {
  const lead = shards.at(0)?.data
  if (!lead) return {}
  return {
    model: lead.model,
    code,
    shardCode: shardCode(shards.map((s) => s.data)),
    settings: lead.settings,
    settingsSha256: digest(lead.settings),
    seeds: lead.seeds,
    layout: lead.layout,
    shards: shards.map((s) => ({
      index: s.data.shard.index,
      ...(s.file ? { file: s.file } : {}),
      provider: s.data.provider,
      code: s.data.code,
      command: s.data.command,
    })),
  }
}
