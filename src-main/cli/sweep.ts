/**
 * `var-studio sweep`: the same classes and seeds under every combination of up to three axes
 * (src-shared/sweep.ts plans it, src-main/app/sweep-output.ts scores and draws it). Each finished cell
 * is a folder `cells/<hash>/` (its PNGs, their scores, `cell.json` written last and the folder renamed
 * into place), so a rerun into the same folder skips it and Ctrl+C loses only the cell in progress.
 */
import { existsSync } from 'node:fs'
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import { modelFacts } from '../../src-shared/engine/request'
import { STRATEGY_KINDS } from '../../src-shared/engine/strategies'
import {
  metricsCsv,
  parseAxisArg,
  parseSeeds,
  planSweep,
  type SweepCell,
  type SweepMetricRow,
  uniqueCells,
  valueLabel,
} from '../../src-shared/sweep'
import { loadCalibration } from '../storage/calibration-file'
import { DEFAULT_TEST_IMAGES, referenceStats } from '../eval/reference'
import { readManifest } from '../storage/model-folder'
import { encodePng, toRaw } from '../storage/png'
import { parametersText, RUN_FORMAT, runImageName } from '../storage/run-output'
import {
  cellHash,
  type CellScores,
  modelHashes,
  planHash,
  readPng,
  scoreCell,
  scoresFromJson,
  scoresJson,
  SWEEP_FORMAT,
  sweepChartPng,
  sweepGrids,
  sweepMetrics,
} from '../app/sweep-output'
import { resolveClass } from './classes'
import { type CliContext, modelOptions, resolveModelDir } from './context'
import { deviceFromFlags, KNOB_OPTIONS, type KnobValues, numberFlag, samplingFromFlags } from './knobs'
import { ProgressBar } from './progress'

export const SWEEP_HELP = `Usage: var-studio sweep --x AXIS=V1,V2,... [--y AXIS=...] [--z AXIS=...] [options]

  --x, --y, --z AXIS=LIST  up to three axes from strategy, N, alpha, dedup, cfg, top-p, search-scale
                         (a scale index, or several joined by +) and final-pick, e.g.
                         --x strategy=baseline,var-scaling --y N=1,10,50 --z cfg=1,3
  --classes LIST         class ids or names (default: every class)
  --seeds COUNT|LIST     seeds per class: a count from --seed (default 4) or a list, e.g. 0,7,42;
                         every cell makes the same classes and seeds (paired)
  --seed S               first seed of a count (default 0)
  --strategy, --N, --k, --alpha, --dedup, --search-scales, --final-pick, --kernel, --cfg, --top-k,
  --top-p, --preset ...  fixed knobs for every cell (as for generate); an axis overrides its own;
                         alpha, dedup and the search scales default to the model's calibration
  --out DIR              output folder (default ./var-studio-out/sweep-<time>); rerunning the same
                         command into it skips the finished cells (found by their hash)
  --bootstrap B          bootstrap resamples for the 95 % intervals (default 100; 0 turns them off)
  --no-metrics           images and grids only (models without a classifier never score)
  --data FILE            Fashion-MNIST test images for FID (default ${DEFAULT_TEST_IMAGES})
  --cache-dir DIR        where the test set's feature statistics are cached (default ~/.cache/var-studio)
  --device auto|cuda|dml|coreml|webgpu|cpu  --batch-size B (default 16)
  --model DIR|ID  --models-dir DIR

Writes sweep.json (the plan and its provenance), cells/<hash>/ (PNGs with parameters), a labelled
grid per axis pair (grid-*.png), sweep.log and, with a classifier, metrics.csv, metrics.json and
metrics-chart.png (class accuracy, IS and FID per cell with 95 % bootstrap intervals).
`

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
}

function cacheBase(): string {
  return (
    process.env.XDG_CACHE_HOME ??
    (process.platform === 'win32' ? process.env.LOCALAPPDATA : undefined) ??
    join(homedir(), '.cache')
  )
}

/** The fixed strategy knobs of the flags, as a raw config the plan completes per cell. */
function baseStrategy(v: KnobValues): Record<string, unknown> {
  const kind = typeof v.strategy === 'string' ? v.strategy : 'var-scaling'
  if (!(STRATEGY_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidRequestError(
      '--strategy',
      `--strategy: must be one of ${STRATEGY_KINDS.join(', ')}, got "${kind}"`,
    )
  }
  const raw: Record<string, unknown> = { kind }
  const num = (key: 'N' | 'k' | 'alpha' | 'dedup', integer: boolean): void => {
    const value = v[key]
    if (typeof value === 'string') raw[key] = numberFlag(`--${key}`, value, integer)
  }
  num('N', true)
  num('k', true)
  num('alpha', false)
  num('dedup', false)
  if (typeof v['search-scales'] === 'string') {
    raw.searchScales = v['search-scales'].split(',').map((s) => numberFlag('--search-scales', s, true))
  }
  if (typeof v['final-pick'] === 'string') raw.finalPick = v['final-pick']
  if (typeof v.kernel === 'string') raw.kernel = v.kernel
  if (v['legacy-progressive-nucleus'] === true) raw.legacyProgressiveNucleus = true
  if (v['pool-bandwidth'] === true) raw.poolBandwidthOverBatch = true
  return raw
}

export async function sweepCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...modelOptions,
      ...KNOB_OPTIONS,
      x: { type: 'string', multiple: true },
      y: { type: 'string', multiple: true },
      z: { type: 'string', multiple: true },
      classes: { type: 'string' },
      seeds: { type: 'string' },
      seed: { type: 'string' },
      out: { type: 'string' },
      bootstrap: { type: 'string' },
      'no-metrics': { type: 'boolean' },
      data: { type: 'string' },
      'cache-dir': { type: 'string' },
      'batch-size': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (v.help) {
    ctx.io.out(SWEEP_HELP)
    return 0
  }
  const flags = ['--x', '--y', '--z'] as const
  const given = flags.flatMap((f) => (v[f.slice(2) as 'x' | 'y' | 'z'] ?? []).map((text) => ({ f, text })))
  if (given.length === 0)
    throw new InvalidRequestError(
      '--x',
      '--x: give at least one axis, e.g. --x strategy=baseline,var-scaling',
    )
  for (const f of flags) {
    if ((v[f.slice(2) as 'x' | 'y' | 'z']?.length ?? 0) > 1) {
      throw new InvalidRequestError(
        f,
        `${f}: given twice; a sweep takes at most three axes: --x, --y and --z`,
      )
    }
  }
  if (v.z && !v.y)
    throw new InvalidRequestError('--z', '--z: give --y first (the axes fill --x, --y, --z in order)')
  if (v.y && !v.x)
    throw new InvalidRequestError('--y', '--y: give --x first (the axes fill --x, --y, --z in order)')
  const axes = given.map(({ f, text }) => parseAxisArg(text, f))

  const dir = await resolveModelDir(v)
  const manifest = await readManifest(dir)
  const classes =
    v.classes === undefined
      ? manifest.class_names.map((_, i) => i)
      : v.classes
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
          .map((ref) => resolveClass(ref, manifest.class_names, '--classes'))
  const first = v.seed === undefined ? 0 : numberFlag('--seed', v.seed, true)
  const seeds = parseSeeds(v.seeds ?? '4', first, '--seeds')
  const calibration = await loadCalibration(dir)
  if (calibration.defaults.warning) ctx.io.err(`warning: ${calibration.defaults.warning}`)
  const sampling = samplingFromFlags(v, manifest)
  const spec = {
    modelId: manifest.id,
    classes,
    seeds,
    axes,
    strategy: baseStrategy(v),
    sampling: { ...sampling },
  }
  const plan = planSweep(
    spec,
    { ...modelFacts(manifest), samplingDefaults: sampling },
    calibration.defaults,
    given.map((g) => g.f),
  )
  const B = v.bootstrap === undefined ? 100 : numberFlag('--bootstrap', v.bootstrap, true)
  if (B < 0 || B > 10_000)
    throw new InvalidRequestError('--bootstrap', `--bootstrap: must be in [0, 10000], got ${B}`)
  const batchSize = v['batch-size'] === undefined ? 16 : numberFlag('--batch-size', v['batch-size'], true)
  if (batchSize < 1 || batchSize > 256) {
    throw new InvalidRequestError('--batch-size', `--batch-size: must be in [1, 256], got ${batchSize}`)
  }
  const device = deviceFromFlags(v)
  const metricsOn = v['no-metrics'] !== true && manifest.graphs.classifier !== undefined
  const out = resolve(v.out ?? join('var-studio-out', `sweep-${timestamp()}`))
  const data = resolve(v.data ?? DEFAULT_TEST_IMAGES)
  const cacheDir = resolve(v['cache-dir'] ?? join(cacheBase(), 'var-studio'))
  await mkdir(join(out, 'cells'), { recursive: true })
  const logFile = join(out, 'sweep.log')
  const log = (line: string): void => {
    ctx.progress.write(`${line}\n`)
    void appendFile(logFile, `${new Date().toISOString()} ${line}\n`).catch(() => undefined)
  }

  const hash = planHash(manifest, plan)
  const recordPath = join(out, 'sweep.json')
  if (existsSync(recordPath)) {
    const before = JSON.parse(await readFile(recordPath, 'utf8')) as { format?: string; planHash?: string }
    if (before.format !== SWEEP_FORMAT)
      throw new StudioError(`${recordPath}: not a sweep.json of this version; choose another --out`)
    log(
      before.planHash === hash
        ? 'resuming: the same plan'
        : 'this folder held another plan: cells with the same settings are reused',
    )
  }
  const unique = uniqueCells(plan)
  const cellHashes = new Map(unique.map((c) => [c.identity, cellHash(manifest, plan, c.identity)]))
  const cellDir = (identity: string): string =>
    join(out, 'cells', (cellHashes.get(identity) ?? '').slice(0, 16))
  const labelOf = (index: number): string => {
    const c = plan.cells[index] as SweepCell | undefined
    return c ? plan.axes.map((a, i) => valueLabel(a.axis, c.coords[i])).join(', ') : ''
  }
  const record = (status: string, extra: Record<string, unknown> = {}): Promise<void> =>
    writeFile(
      recordPath,
      `${JSON.stringify(
        {
          format: SWEEP_FORMAT,
          version: ctx.version,
          status,
          command: ['var-studio', 'sweep', ...args],
          model: { id: manifest.id, dir, files: modelHashes(manifest) },
          planHash: hash,
          spec,
          searchDefaults: calibration.defaults,
          device,
          batchSize,
          seeds: plan.items.length === 0 ? [] : seeds,
          classes: classes.map((id) => ({ id, name: manifest.class_names[id] })),
          axes: plan.axes,
          cells: plan.cells.map((c) => ({
            index: c.index,
            label: labelOf(c.index),
            coords: c.coords,
            hash: cellHashes.get(c.identity),
            folder: `cells/${(cellHashes.get(c.identity) ?? '').slice(0, 16)}`,
            unused: c.unused,
            strategy: c.strategy,
            sampling: c.sampling,
          })),
          ...extra,
        },
        null,
        2,
      )}\n`,
    )
  await record('running')
  log(
    `sweep: ${plan.cells.length} cells (${unique.length} distinct) x ${plan.items.length} images (${classes.length} classes x ${seeds.length} seeds) into ${out}`,
  )

  const client = ctx.client()
  const abort = new AbortController()
  const stop = (): void => {
    ctx.io.err('\nCancelling: finished cells are kept; rerun the same command to go on')
    process.off('SIGINT', stop)
    abort.abort()
  }
  process.on('SIGINT', stop)
  const runCtx = {
    manifest,
    seedPolicy: 'fixed' as const,
    command: ['var-studio', 'sweep', ...args],
    version: ctx.version,
  }
  const classIds = plan.items.map((it) => it.classId)
  const C = manifest.image_channels
  try {
    const scored: { cell: number; hash: string; scores: CellScores }[] = []
    for (const [ui, cell] of unique.entries()) {
      const cellHashHex = cellHashes.get(cell.identity) ?? ''
      const folder = cellDir(cell.identity)
      const label = `cell ${ui + 1}/${unique.length} ${labelOf(cell.index)}`
      const done = await finishedCell(folder, cellHashHex)
      if (done) {
        log(`${label}: finished before (hash ${cellHashHex.slice(0, 12)}), skipped`)
      } else {
        const partial = `${folder}.partial`
        await rm(partial, { recursive: true, force: true })
        await mkdir(partial, { recursive: true })
        const bar = new ProgressBar(ctx.progress, label)
        const t0 = performance.now()
        let provider = ''
        for (let at = 0; at < plan.items.length; at += batchSize) {
          const items = plan.items.slice(at, at + batchSize)
          const result = await client.call(
            'generate',
            { dir, items, device, sampling: cell.sampling, strategy: cell.strategy, batchSize },
            {
              signal: abort.signal,
              onProgress: (p) => {
                if (p.kind === 'load') return
                bar.update(at + Math.floor(((p.si + 1) / p.scales) * items.length), plan.items.length)
              },
            },
          )
          provider = result.provider.provider
          for (const [b, image] of result.images.entries()) {
            const png = await encodePng(toRaw(image.pixels, result.channels, result.height, result.width), {
              parameters: parametersText(image, result, runCtx),
              json: {
                format: RUN_FORMAT,
                version: ctx.version,
                model: { id: manifest.id },
                classId: image.classId,
                className: image.className,
                seed: image.seed,
                sampling: result.sampling,
                strategy: result.strategy,
                provider: result.provider.provider,
                sweep: { planHash: hash, cell: cellHashHex },
              },
            })
            await writeFile(join(partial, runImageName(at + b, image)), png)
          }
        }
        bar.finish()
        const seconds = (performance.now() - t0) / 1000
        if (metricsOn) {
          const files = plan.items.map((it, i) =>
            join(
              partial,
              runImageName(i, { className: manifest.class_names[it.classId] ?? '', seed: it.seed }),
            ),
          )
          const scores = await scoreCell(client, dir, device, files, classIds, C, abort.signal)
          await writeFile(join(partial, 'scores.json'), JSON.stringify(scoresJson(scores)))
        }
        await writeFile(
          join(partial, 'cell.json'),
          `${JSON.stringify({ hash: cellHashHex, strategy: cell.strategy, sampling: cell.sampling, items: plan.items.length, seconds, provider }, null, 2)}\n`,
        )
        await rm(folder, { recursive: true, force: true })
        await rename(partial, folder)
        log(`${label}: ${plan.items.length} images in ${seconds.toFixed(1)} s`)
      }
      if (metricsOn) {
        const scores = scoresFromJson(JSON.parse(await readFile(join(folder, 'scores.json'), 'utf8')))
        if (!scores)
          throw new StudioError(
            `${join(folder, 'scores.json')}: unreadable scores; delete the folder to make the cell again`,
          )
        scored.push({ cell: cell.index, hash: cellHashHex, scores })
      }
    }

    const title = `${manifest.id}: ${classes.length} classes x ${seeds.length} seeds per cell`
    const grids = await sweepGrids(
      plan,
      (cellIndex, item) => {
        const c = plan.cells[cellIndex] as SweepCell | undefined
        const it = plan.items[item] as (typeof plan.items)[number] | undefined
        if (!c || !it) throw new RangeError(`no cell ${cellIndex} image ${item}`)
        return readPng(
          join(
            cellDir(c.identity),
            runImageName(item, { className: manifest.class_names[it.classId] ?? '', seed: it.seed }),
          ),
        )
      },
      manifest.class_names,
      title,
    )
    const written: string[] = ['sweep.json', 'sweep.log']
    for (const g of grids) {
      await writeFile(join(out, g.name), g.png)
      written.push(g.name)
    }
    let rows: SweepMetricRow[] = []
    if (metricsOn) {
      let ref
      try {
        ref = await referenceStats({
          client,
          dir,
          manifest,
          device,
          data,
          cacheDir,
          log,
        })
      } catch (error) {
        log(`FID left out: ${error instanceof Error ? error.message : String(error)}`)
      }
      rows = sweepMetrics(scored, ref, B, first + 1)
      for (const r of rows) {
        const show = (m: { value: number; lo?: number; hi?: number }, d: number): string =>
          `${m.value.toFixed(d)}${m.lo === undefined ? '' : ` [${m.lo.toFixed(d)}, ${(m.hi ?? m.value).toFixed(d)}]`}`
        log(`${labelOf(r.cell)}: accuracy ${show(r.accuracy, 3)}, IS ${show(r.IS, 3)}, FID ${show(r.FID, 2)}`)
      }
      const metricsJson = {
        format: 'var-studio-sweep-metrics/1',
        planHash: hash,
        model: manifest.id,
        bootstrap: { resamples: B, level: 0.95, seed: first + 1 },
        reference: ref ? { source: ref.source, count: ref.count } : null,
        notes:
          'Scored from the saved PNGs. IS: one split. FID: Frechet distance of classifier feature Gaussians ' +
          '(biased upward at few images: compare cells, not with other studies). Intervals: 95 % bootstrap over ' +
          'resampled image indices, the same resamples for every cell (paired by class and seed).',
        cells: plan.cells.map((c) => ({
          index: c.index,
          label: labelOf(c.index),
          coords: c.coords,
          hash: cellHashes.get(c.identity),
        })),
        rows,
      }
      await writeFile(join(out, 'metrics.json'), `${JSON.stringify(metricsJson, null, 2)}\n`)
      await writeFile(join(out, 'metrics.csv'), metricsCsv(plan, rows))
      await writeFile(join(out, 'metrics-chart.png'), await sweepChartPng(plan, rows, title))
      written.push('metrics.csv', 'metrics.json', 'metrics-chart.png')
    }
    await record('complete', { files: written })
    log(`sweep: complete`)
    for (const f of written) ctx.io.out(join(out, f))
    return 0
  } catch (error) {
    await record(abort.signal.aborted ? 'cancelled' : 'failed').catch(() => undefined)
    throw error
  } finally {
    process.off('SIGINT', stop)
  }
}

/** A cell folder counts as finished when its cell.json names the hash it is looked up by. */
async function finishedCell(folder: string, hash: string): Promise<boolean> {
  try {
    const json = JSON.parse(await readFile(join(folder, 'cell.json'), 'utf8')) as { hash?: string }
    return json.hash === hash
  } catch {
    return false
  }
}
