/**
 * The studio's Experiments: a sweep (src-shared/sweep.ts) runs through the queue as one job per
 * distinct cell, so each cell is cancellable and resumable like any job and its images land in the
 * history. The sweep itself is `<home>/experiments/<id>/sweep.json` (plan, hashes, the job of each
 * cell); once every cell is finished its images are scored with the model's classifier and the
 * metrics (metrics.json, metrics.csv), the curve chart and a grid per axis pair are written beside
 * it. A finished cell of an earlier sweep with the same hash is reused instead of queued again.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { modelFacts } from '../../src-shared/engine/request'
import { issuesText } from '../../src-shared/protocol'
import type { IpcParsedArgs, QueueSnapshot, Settings, SweepDetail, SweepSummary } from '../../src-shared/ipc'
import type { SweepPlan } from '../../src-shared/sweep'
import {
  canonicalJson,
  metricsCsv,
  planSweep,
  SWEEP_AXES,
  sweepSpecSchema,
  uniqueCells,
  valueLabel,
} from '../../src-shared/sweep'
import type { SweepSpec } from '../../src-shared/sweep'
import type { HostClient } from '../host/client'
import { checkJobMemory } from '../host/memory'
import { DEFAULT_TEST_IMAGES, referenceStats } from '../eval/reference'
import { loadCalibration } from '../storage/calibration-file'
import { containedFile } from '../storage/contained'
import { pngDataUrl } from '../storage/png'
import { NotFoundError } from './errors'
import type { StudioEvents } from './events'
import type { History } from './history'
import type { Models } from './model-list'
import type { NewJob, Queue } from './queue'
import { imageIdOf } from './run-job'
import {
  cellHash,
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
} from './sweep-output'

const axisValueSchema = z.union([z.string().max(200), z.number(), z.array(z.number()).max(64)])
const metricSchema = z.strictObject({
  value: z.number(),
  lo: z.number().optional(),
  hi: z.number().optional(),
})

/**
 * sweep.json as the studio writes it. The file is on disk and may have been edited: the shape is
 * checked here, each cell's identity against its settings when it is read, and the plan's hash
 * against the model when the sweep is finished (`checkPlanHash`).
 */
const sweepRecordSchema = z
  .strictObject({
    format: z.literal(SWEEP_FORMAT),
    id: z.string().min(1).max(200),
    label: z.string().max(400),
    createdAt: z.string().max(40),
    modelId: z.string().min(1).max(200),
    modelFiles: z.record(z.string(), z.string()),
    planHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in hex'),
    spec: sweepSpecSchema,
    plan: z.strictObject({
      modelId: z.string().min(1).max(200),
      axes: z
        .array(z.strictObject({ axis: z.enum(SWEEP_AXES), values: z.array(axisValueSchema).min(1).max(32) }))
        .min(1)
        .max(3),
      items: z
        .array(z.strictObject({ classId: z.number().int().min(0), seed: z.number().int().min(0) }))
        .min(1),
      cells: z
        .array(
          z.strictObject({
            index: z.number().int().min(0),
            coords: z.array(axisValueSchema),
            strategy: z.record(z.string(), z.unknown()),
            sampling: z.record(z.string(), z.unknown()),
            unused: z.array(z.enum(SWEEP_AXES)),
            identity: z.string(),
          }),
        )
        .min(1),
    }),
    cells: z.array(
      z.strictObject({ hash: z.string().max(64), jobId: z.string().max(200), reused: z.boolean() }),
    ),
  })
  .superRefine((rec, ctx) => {
    const { plan } = rec
    const problem = (message: string): void => {
      ctx.addIssue({ code: 'custom', message })
    }
    if (plan.modelId !== rec.modelId)
      problem(`plan.modelId ${plan.modelId} differs from modelId ${rec.modelId}`)
    if (rec.cells.length !== plan.cells.length)
      problem(`${rec.cells.length} cells for a plan of ${plan.cells.length}`)
    if (plan.items.length !== rec.spec.classes.length * rec.spec.seeds.length)
      problem(`plan.items holds ${plan.items.length} images, not classes x seeds`)
    plan.cells.forEach((c, i) => {
      if (c.index !== i) problem(`plan.cells[${i}].index is ${c.index}`)
      else if (c.coords.length !== plan.axes.length)
        problem(`plan.cells[${i}].coords: one value per axis expected`)
      else if (c.identity !== canonicalJson({ strategy: c.strategy, sampling: c.sampling }))
        problem(`plan.cells[${i}]: its strategy or sampling no longer match its identity (edited?)`)
    })
  })

interface SweepRecord {
  readonly format: string
  readonly id: string
  readonly label: string
  readonly createdAt: string
  readonly modelId: string
  readonly modelFiles: Record<string, string>
  readonly planHash: string
  readonly spec: SweepSpec
  readonly plan: SweepPlan
  /** per cell of the plan: its hash and the job that makes (or made) its images */
  readonly cells: { readonly hash: string; readonly jobId: string; readonly reused: boolean }[]
}

const outputsSchema = z.strictObject({
  metrics: z
    .array(
      z.strictObject({
        cell: z.number().int().min(0),
        hash: z.string().max(64),
        n: z.number().int().min(0),
        accuracy: metricSchema,
        IS: metricSchema,
        FID: metricSchema,
      }),
    )
    .nullable(),
  note: z.string().max(4000),
  grids: z.array(z.strictObject({ name: z.string().max(200), title: z.string().max(400) })).max(64),
})

interface Outputs {
  readonly metrics: SweepDetail['metrics']
  readonly note: string
  readonly grids: { name: string; title: string }[]
}

/** A sweep.json read back: shape and identities checked (see sweepRecordSchema). */
function parseSweepRecord(json: unknown): SweepRecord {
  const parsed = sweepRecordSchema.safeParse(json)
  if (!parsed.success) throw new Error(issuesText(parsed.error).text.slice(0, 400))
  // the schema checked every field the studio reads; SweepPlan's types are narrower unions of the same
  return parsed.data as unknown as SweepRecord
}

export interface ExperimentDeps {
  readonly home: string
  readonly queue: Queue
  readonly history: () => History
  readonly models: Models
  readonly client: () => HostClient
  readonly device: () => Settings['device']
  readonly batchSize: () => number
  readonly events: StudioEvents
  readonly log: (line: string) => void
  /** the Fashion-MNIST test images for FID (tests point elsewhere) */
  readonly referenceData?: string
}

const BOOTSTRAP = 100

export class Experiments {
  private readonly dir: string
  private readonly records = new Map<string, SweepRecord>()
  private readonly finishing = new Map<string, Promise<void>>()
  private lastStates = new Map<string, string>()

  private constructor(private readonly deps: ExperimentDeps) {
    this.dir = join(deps.home, 'experiments')
  }

  /** Reads every saved sweep; a damaged one is logged and left out. */
  static async open(deps: ExperimentDeps): Promise<Experiments> {
    const e = new Experiments(deps)
    await mkdir(e.dir, { recursive: true })
    for (const name of await readdir(e.dir)) {
      const file = join(e.dir, name, 'sweep.json')
      if (!existsSync(file)) continue
      try {
        const rec = parseSweepRecord(JSON.parse(await readFile(file, 'utf8')))
        if (rec.id !== name) throw new Error(`its id ${rec.id} is not its folder's name`)
        e.records.set(rec.id, rec)
      } catch (error) {
        deps.log(`experiments: ${file} left out: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
    deps.events.on('queue:changed', (snapshot) => {
      e.queueChanged(snapshot)
    })
    e.queueChanged(deps.queue.snapshot())
    return e
  }

  async run(spec: IpcParsedArgs<'experiments:run'>): Promise<{ sweepId: string; jobIds: string[] }> {
    const model = await this.deps.models.resolve(spec.modelId)
    const m = model.manifest
    const calibration = await loadCalibration(model.dir)
    const plan = planSweep(
      spec,
      { ...modelFacts(m), samplingDefaults: m.sampling_defaults },
      calibration.defaults,
    )
    const id = `sweep-${new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}-${randomBytes(3).toString('hex')}`
    const label =
      spec.label ??
      `${plan.axes.map((a) => a.axis).join(' x ')}: ${spec.classes.length} classes x ${spec.seeds.length} seeds`
    const finished = this.finishedCells()
    const byIdentity = new Map<string, { hash: string; jobId: string; reused: boolean }>()
    const jobs: NewJob[] = []
    const unique = uniqueCells(plan)
    for (const cell of unique) {
      const hash = cellHash(m, plan, cell.identity)
      const earlier = finished.get(hash)
      if (earlier) {
        byIdentity.set(cell.identity, { hash, jobId: earlier, reused: true })
        continue
      }
      checkJobMemory(
        m,
        {
          strategy: cell.strategy,
          batchSize: this.deps.batchSize(),
          items: Math.min(this.deps.batchSize(), plan.items.length),
        },
        'axes',
        `the cell ${this.cellLabel(plan, cell.index)}`,
      )
      jobs.push({
        modelId: m.id,
        label: `Sweep cell ${this.cellLabel(plan, cell.index)}`,
        strategy: { ...cell.strategy },
        sampling: { ...cell.sampling },
        items: [...plan.items],
        seedPolicy: 'fixed',
        source: { kind: 'sweep', file: id },
      })
      byIdentity.set(cell.identity, { hash, jobId: '', reused: false })
    }
    const jobIds = jobs.length > 0 ? await this.deps.queue.add(jobs) : []
    let next = 0
    for (const cell of unique) {
      const entry = byIdentity.get(cell.identity)
      if (entry && !entry.reused) byIdentity.set(cell.identity, { ...entry, jobId: jobIds[next++] ?? '' })
    }
    const record: SweepRecord = {
      format: SWEEP_FORMAT,
      id,
      label,
      createdAt: new Date().toISOString(),
      modelId: m.id,
      modelFiles: modelHashes(m),
      planHash: planHash(m, plan),
      spec,
      plan,
      cells: plan.cells.map((c) => byIdentity.get(c.identity) ?? { hash: '', jobId: '', reused: false }),
    }
    await mkdir(join(this.dir, id), { recursive: true })
    await this.writeJson(join(this.dir, id, 'sweep.json'), record)
    this.records.set(id, record)
    this.deps.events.emit('experiments:changed', { sweepId: id })
    this.queueChanged(this.deps.queue.snapshot())
    return { sweepId: id, jobIds }
  }

  list(): SweepSummary[] {
    const snapshot = this.deps.queue.snapshot()
    return [...this.records.values()]
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      .map((r) => this.summary(r, snapshot))
  }

  async get(sweepId: string): Promise<SweepDetail> {
    const rec = this.records.get(sweepId)
    if (!rec)
      throw new NotFoundError(`No sweep "${sweepId}" (it may have been made in another studio folder)`)
    const snapshot = this.deps.queue.snapshot()
    const summary = this.summary(rec, snapshot)
    const jobs = new Map(snapshot.jobs.map((j) => [j.id, j]))
    const folder = join(this.dir, rec.id)
    const outputs = await this.readOutputs(rec.id)
    const grids = []
    for (const g of outputs?.grids ?? []) {
      // outputs.json is a file on disk: a grid name that leads out of the sweep's folder is refused
      const file = await containedFile(folder, g.name, 'sweep grid')
      grids.push({ name: g.name, title: g.title, dataUrl: pngDataUrl(await readFile(file)) })
    }
    return {
      ...summary,
      spec: rec.spec,
      plan: rec.plan,
      cellList: rec.plan.cells.map((c, i) => {
        const cell = rec.cells[i] ?? { hash: '', jobId: '', reused: false }
        const job = jobs.get(cell.jobId)
        const made = this.deps.history().idsOfJob(cell.jobId).length
        return {
          index: c.index,
          label: this.cellLabel(rec.plan, c.index),
          hash: cell.hash,
          jobId: cell.jobId,
          state: cell.reused
            ? 'reused'
            : (job?.state ?? (made >= rec.plan.items.length ? 'done' : 'missing')),
          made,
          total: rec.plan.items.length,
        }
      }),
      metrics: outputs?.metrics ?? null,
      metricsNote:
        outputs?.note ??
        (summary.state === 'done'
          ? 'Scoring the images...'
          : 'The metrics and grids follow once every cell is finished.'),
      grids,
      folder,
    }
  }

  /** Waits for the scoring of finished sweeps (tests and closing). */
  async settled(): Promise<void> {
    await Promise.all([...this.finishing.values()])
  }

  private cellLabel(plan: SweepPlan, index: number): string {
    const c = plan.cells[index] as SweepPlan['cells'][number] | undefined
    return c ? plan.axes.map((a, i) => valueLabel(a.axis, c.coords[i])).join(', ') : ''
  }

  /** hash -> job id of every cell whose job finished all its images */
  private finishedCells(): Map<string, string> {
    const out = new Map<string, string>()
    for (const rec of this.records.values()) {
      for (const c of rec.cells) {
        if (c.hash && this.cellDone(rec, c.jobId)) out.set(c.hash, c.jobId)
      }
    }
    return out
  }

  private cellDone(rec: SweepRecord, jobId: string): boolean {
    return jobId !== '' && this.deps.history().idsOfJob(jobId).length >= rec.plan.items.length
  }

  private summary(rec: SweepRecord, snapshot: QueueSnapshot): SweepSummary {
    const jobs = new Map(snapshot.jobs.map((j) => [j.id, j]))
    const distinct = [...new Map(rec.cells.map((c) => [c.jobId, c])).values()]
    const done = distinct.filter((c) => this.cellDone(rec, c.jobId)).length
    const active = distinct.some((c) => {
      const s = jobs.get(c.jobId)?.state
      return s === 'queued' || s === 'running'
    })
    return {
      id: rec.id,
      label: rec.label,
      modelId: rec.modelId,
      createdAt: rec.createdAt,
      cells: distinct.length,
      done,
      state: done === distinct.length ? 'done' : active ? 'running' : 'stopped',
    }
  }

  private queueChanged(snapshot: QueueSnapshot): void {
    for (const rec of this.records.values()) {
      const key = rec.cells
        .map(
          (c) =>
            `${snapshot.jobs.find((j) => j.id === c.jobId)?.state ?? ''}:${this.deps.history().idsOfJob(c.jobId).length}`,
        )
        .join(',')
      if (this.lastStates.get(rec.id) === key) continue
      this.lastStates.set(rec.id, key)
      this.deps.events.emit('experiments:changed', { sweepId: rec.id })
      if (this.summary(rec, snapshot).state === 'done' && !this.finishing.has(rec.id)) {
        if (existsSync(join(this.dir, rec.id, 'outputs.json'))) continue
        const task = this.finish(rec)
          .catch((error: unknown) => {
            this.deps.log(`experiments: ${rec.id}: ${error instanceof Error ? error.message : String(error)}`)
          })
          .finally(() => {
            this.deps.events.emit('experiments:changed', { sweepId: rec.id })
          })
        this.finishing.set(rec.id, task)
      }
    }
  }

  /** outputs.json, or undefined where it is missing or not of the expected shape (logged) */
  private async readOutputs(id: string): Promise<Outputs | undefined> {
    const file = join(this.dir, id, 'outputs.json')
    if (!existsSync(file)) return undefined
    try {
      const parsed = outputsSchema.safeParse(JSON.parse(await readFile(file, 'utf8')))
      if (parsed.success) return parsed.data
      this.deps.log(`experiments: ${file} left out: ${issuesText(parsed.error).text.slice(0, 300)}`)
    } catch (error) {
      this.deps.log(
        `experiments: ${file} left out: ${error instanceof Error ? error.message : String(error)}`,
      )
    }
    return undefined
  }

  /** Scores every cell's images, then writes the metrics, the chart and the grids. */
  private async finish(rec: SweepRecord): Promise<void> {
    const model = await this.deps.models.resolve(rec.modelId)
    const m = model.manifest
    if (planHash(m, rec.plan) !== rec.planHash) {
      throw new Error(
        `${join(this.dir, rec.id, 'sweep.json')}: its plan does not match its hash for model ${m.id} ` +
          `(the file was edited, or the model's files changed since the sweep was planned); not scored`,
      )
    }
    const history = this.deps.history()
    const folder = join(this.dir, rec.id)
    const imageFile = async (cellIndex: number, item: number): Promise<string> => {
      const cell = rec.cells[cellIndex] as SweepRecord['cells'][number] | undefined
      if (!cell) throw new RangeError(`no cell ${cellIndex}`)
      return history.imagePath(history.get(imageIdOf(cell.jobId, item)))
    }
    const title = `${m.id}: ${rec.spec.classes.length} classes x ${rec.spec.seeds.length} seeds per cell`
    const grids = await sweepGrids(
      rec.plan,
      async (c, i) => readPng(await imageFile(c, i)),
      m.class_names,
      title,
    )
    for (const g of grids) await writeFile(join(folder, g.name), g.png)
    let metrics: SweepDetail['metrics'] = null
    let note = `${m.id} has no classifier: images and grids only`
    if (m.graphs.classifier) {
      const device = this.deps.device()
      const client = this.deps.client()
      const classIds = rec.plan.items.map((it) => it.classId)
      const scored = []
      await mkdir(join(folder, 'scores'), { recursive: true })
      for (const cell of uniqueCells(rec.plan)) {
        const { hash } = rec.cells[cell.index] ?? { hash: '' }
        const file = join(folder, 'scores', `${hash.slice(0, 16)}.json`)
        let scores = existsSync(file) ? scoresFromJson(JSON.parse(await readFile(file, 'utf8'))) : undefined
        if (!scores) {
          const files = await Promise.all(rec.plan.items.map((_, i) => imageFile(cell.index, i)))
          scores = await scoreCell(client, model.dir, device, files, classIds, m.image_channels)
          await writeFile(file, JSON.stringify(scoresJson(scores)))
        }
        scored.push({ cell: cell.index, hash, scores })
      }
      let ref
      let fidNote = ''
      try {
        ref = await referenceStats({
          client,
          dir: model.dir,
          manifest: m,
          device,
          data: this.deps.referenceData ?? DEFAULT_TEST_IMAGES,
          cacheDir: join(this.deps.home, 'cache'),
          log: () => undefined,
        })
      } catch (error) {
        fidNote = `; FID left out: ${error instanceof Error ? error.message : String(error)}`
      }
      metrics = sweepMetrics(scored, ref, BOOTSTRAP, (rec.spec.seeds[0] ?? 0) + 1)
      note =
        `${rec.plan.items.length} images per cell, scored from the saved PNGs; shaded: 95 % bootstrap ` +
        `interval (${BOOTSTRAP} resamples, the same for every cell)${fidNote}`
      await this.writeJson(join(folder, 'metrics.json'), {
        format: 'var-studio-sweep-metrics/1',
        planHash: rec.planHash,
        model: m.id,
        bootstrap: { resamples: BOOTSTRAP, level: 0.95 },
        reference: ref ? { source: ref.source, count: ref.count } : null,
        cells: rec.plan.cells.map((c, i) => ({
          index: c.index,
          label: this.cellLabel(rec.plan, c.index),
          coords: c.coords,
          hash: rec.cells[i]?.hash,
        })),
        rows: metrics,
      })
      await writeFile(join(folder, 'metrics.csv'), metricsCsv(rec.plan, metrics))
      await writeFile(join(folder, 'metrics-chart.png'), await sweepChartPng(rec.plan, metrics, title))
    }
    const outputs: Outputs = { metrics, note, grids: grids.map((g) => ({ name: g.name, title: g.title })) }
    await this.writeJson(join(folder, 'outputs.json'), outputs)
  }

  private async writeJson(path: string, value: unknown): Promise<void> {
    const tmp = `${path}.tmp`
    await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`)
    await rename(tmp, path)
  }
}
