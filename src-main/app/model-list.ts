/**
 * The models the studio offers: the shipped one and the user's (../storage/user-models keeps that
 * list, and the models directory, in `<home>/models.json`, the same file the CLI uses). Adding a
 * folder runs the inference host's full `models.verify` (files, sha256 and every graph), with
 * progress pushed as `models:progress`.
 */
import { isAbsolute, resolve as resolvePath } from 'node:path'
import { InvalidRequestError } from '../../src-shared/errors'
import type { VarManifest } from '../../src-shared/manifest'
import type { ModelDetails, ModelManifestFacts, ModelView } from '../../src-shared/ipc'
import type { FileCheck, ModelSummary, ModelVerifyResult } from '../../src-shared/protocol'
import type { HostClient } from '../host/client'
import { listModels } from '../storage/model-registry'
import { checkModelFiles, readManifest } from '../storage/model-folder'
import {
  addUserModel,
  loadUserModels,
  removeUserModel,
  setModelsDir,
  userModelFolders,
  UserModelsError,
} from '../storage/user-models'
import { NotFoundError } from './errors'
import { calibrateModel } from '../eval/calibrate'
import { loadCalibration } from '../storage/calibration-file'
import type { StudioEvents } from './events'

export interface ResolvedModel {
  readonly dir: string
  readonly manifest: VarManifest
}

function toView(s: ModelSummary, m: VarManifest | undefined): ModelView {
  return {
    id: s.id ?? s.dir,
    displayName: s.displayName ?? s.id ?? s.dir,
    dir: s.dir,
    origin: s.origin,
    ok: s.ok,
    ...(s.error ? { error: s.error.message } : {}),
    classNames: m?.class_names ?? [],
    imageSize: m?.image_size ?? 0,
    imageChannels: m?.image_channels ?? 0,
    patchNums: m?.patch_nums ?? [],
    vocabSize: m?.vocab_size ?? 0,
    samplingDefaults: m?.sampling_defaults ?? { cfg: 0, top_k: 0, top_p: 1 },
    bytes: s.bytes ?? 0,
  }
}

function manifestFacts(m: VarManifest): ModelManifestFacts {
  const { kind, files: sourceFiles, ...rest } = m.source
  const notes: Record<string, string | number> = {}
  for (const [key, value] of Object.entries(rest)) {
    if (typeof value === 'string' || typeof value === 'number') notes[key] = value
  }
  return {
    format: m.format,
    depth: m.depth,
    embedDim: m.embed_dim,
    numHeads: m.num_heads,
    headDim: m.head_dim,
    numClasses: m.num_classes,
    vocabSize: m.vocab_size,
    patchNums: m.patch_nums,
    imageSize: m.image_size,
    imageChannels: m.image_channels,
    ...(m.weight_dtype ? { weightDtype: m.weight_dtype } : {}),
    source: { kind, ...(sourceFiles ? { files: sourceFiles } : {}), notes },
    files: Object.entries(m.files)
      .map(([name, f]) => ({ name, bytes: f.bytes, sha256: f.sha256 }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  }
}

/**
 * The storage layer words its refusals for the CLI (`var-studio models remove <id>`, `--delete-files`);
 * in the studio those hints point nowhere, so they are dropped and the rest of the message kept.
 */
const CLI_HINTS: readonly (readonly [RegExp, string])[] = [
  [/ \(var-studio models remove [^)]*\)/g, ''],
  [/: var-studio models add <folder>\)/g, ')'],
  [/, or delete it with --delete-files/g, ''],
]

function inStudioWords(error: unknown): unknown {
  if (!(error instanceof UserModelsError)) return error
  const message = CLI_HINTS.reduce((text, [pattern, by]) => text.replace(pattern, by), error.message)
  return message === error.message ? error : new UserModelsError(error.problem, message, { cause: error })
}

/** The host's file check says `missing`; for a graph file, say which graph, since that is what is lost. */
function nameMissingGraphs(manifest: VarManifest, files: readonly FileCheck[]): FileCheck[] {
  const graphOf = new Map(Object.entries(manifest.graphs).map(([name, g]) => [g.file, name]))
  return files.map((f) => {
    const graph = graphOf.get(f.name)
    return !f.ok && f.kind === 'missing' && graph
      ? { ...f, problem: `missing: the ${graph} graph is not in the folder` }
      : f
  })
}

/** What is wrong with a folder's files by presence and size alone; undefined when nothing is. */
async function filesProblem(dir: string, manifest: VarManifest): Promise<string | undefined> {
  let files: FileCheck[]
  try {
    files = nameMissingGraphs(manifest, await checkModelFiles(dir, manifest, { hashes: false }))
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
  const bad = files.filter((f) => !f.ok).map((f) => `${f.name}: ${f.problem ?? 'does not match'}`)
  return bad.length > 0 ? `${dir} does not match its manifest: ${bad.join('; ')}` : undefined
}

/** The web host and Electron run elsewhere than the user's shell: a relative path would mean nothing. */
function absoluteDir(dir: string): string {
  const trimmed = dir.trim()
  if (!isAbsolute(trimmed)) {
    throw new InvalidRequestError('dir', `"${dir}" is not a full path; give the folder's absolute path`)
  }
  return resolvePath(trimmed)
}

export class Models {
  constructor(
    private readonly home: string,
    private readonly client: () => HostClient,
    private readonly events: StudioEvents,
  ) {}

  private async summaries(): Promise<ModelSummary[]> {
    const user = await loadUserModels(this.home)
    return listModels({ userDirs: userModelFolders(user) })
  }

  /**
   * Every model with its state. Besides the manifest, each listed file's presence and size are
   * checked (a stat each, no hashing), so a folder that lost a graph shows as broken in the list
   * rather than failing when a job loads it.
   */
  async list(): Promise<ModelView[]> {
    const out: ModelView[] = []
    for (const s of await this.summaries()) {
      const m = s.ok ? await readManifest(s.dir).catch(() => undefined) : undefined
      const problem = m ? await filesProblem(s.dir, m) : undefined
      const view = toView(s, m)
      // the search defaults strategies get: the model's calibration, else the paper's constants
      const searchDefaults = m ? (await loadCalibration(s.dir)).defaults : undefined
      const withDefaults = searchDefaults ? { ...view, searchDefaults } : view
      out.push(problem ? { ...withDefaults, ok: false, error: problem } : withDefaults)
    }
    return out
  }

  /** The folder and manifest of a model id; throws NotFoundError listing the known ids. */
  async resolve(id: string): Promise<ResolvedModel> {
    const all = await this.summaries()
    const hit = all.find((s) => s.ok && s.id === id)
    if (!hit) {
      const known = all.filter((s) => s.ok).map((s) => s.id ?? s.dir)
      throw new NotFoundError(
        `No model "${id}"; known models: ${known.join(', ') || 'none'}. Add its folder under Models first.`,
      )
    }
    return { dir: hit.dir, manifest: await readManifest(hit.dir) }
  }

  /** `resolve` remembered for one request: a thousand job specs of one model read its folder once. */
  resolver(): (id: string) => Promise<ResolvedModel> {
    const seen = new Map<string, Promise<ResolvedModel>>()
    return (id) => {
      let hit = seen.get(id)
      if (!hit) {
        hit = this.resolve(id)
        seen.set(id, hit)
      }
      return hit
    }
  }

  async add(dir: string): Promise<ModelView> {
    const verify = async (
      abs: string,
      manifest: VarManifest,
    ): Promise<Pick<ModelVerifyResult, 'files' | 'graphs'>> => {
      const check = await this.client().call(
        'models.verify',
        { dir: abs },
        {
          onProgress: (p) => {
            const fraction =
              p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : p.phase === 'graph' ? 1 : 0
            this.events.emit('models:progress', { dir: abs, phase: p.phase, file: p.file, fraction })
          },
        },
      )
      return { files: nameMissingGraphs(manifest, check.files), graphs: check.graphs }
    }
    let added
    try {
      added = await addUserModel(this.home, absoluteDir(dir), { verify })
    } catch (error) {
      throw inStudioWords(error)
    }
    const views = await this.list()
    const view = views.find((v) => v.dir === added.model.dir)
    if (!view) throw new NotFoundError(`${added.model.dir} was added but is not listed; reload the models`)
    return view
  }

  /** Unregisters a model folder (its files stay); the shipped model and models-dir models are refused. */
  async remove(id: string): Promise<{ removed: boolean }> {
    try {
      await removeUserModel(this.home, id)
    } catch (error) {
      throw inStudioWords(error)
    }
    return { removed: true }
  }

  /** Reads (`undefined`), sets (a path) or forgets (`null`) the models directory. */
  async dir(dir: string | null | undefined): Promise<{ dir: string | null }> {
    try {
      const next =
        dir === undefined
          ? await loadUserModels(this.home)
          : await setModelsDir(this.home, dir === null ? undefined : absoluteDir(dir), { create: false })
      return { dir: next.modelsDir ?? null }
    } catch (error) {
      throw inStudioWords(error)
    }
  }

  /**
   * Calibrates a model's search defaults on the inference host (src-main/eval/calibrate.ts) and stores
   * them beside it; progress goes out as `models:progress` with phase `calibrate`.
   */
  async calibrate(
    id: string,
    options: { scale?: number | undefined; cfg?: number | undefined; topkShare?: number | undefined },
    version: string,
  ): Promise<ModelView> {
    const { dir } = await this.resolve(id)
    await calibrateModel(
      this.client(),
      dir,
      {
        ...(options.scale !== undefined ? { scales: [options.scale] } : {}),
        ...(options.cfg !== undefined ? { cfgs: [options.cfg] } : {}),
        ...(options.topkShare !== undefined ? { topkShare: options.topkShare } : {}),
      },
      {
        command: ['studio', 'models:calibrate', id],
        version,
        onProgress: (p) => {
          this.events.emit('models:progress', {
            dir,
            phase: 'calibrate',
            file: `scale ${p.si}, cfg ${p.cfg}: ${p.done} of ${p.images} images`,
            fraction: Math.min(1, (p.run * p.images + p.done) / (p.runs * p.images)),
          })
        },
      },
    )
    const view = (await this.list()).find((v) => v.dir === dir)
    if (!view) throw new NotFoundError(`${dir} was calibrated but is no longer listed; reload the models`)
    return view
  }

  /** A model's list entry with its manifest's facts; a broken model comes back with its error. */
  async show(id: string): Promise<ModelDetails> {
    const user = await loadUserModels(this.home)
    const views = await this.list()
    // A broken folder has no manifest id: its list entry is named by its folder.
    const view = views.find((v) => v.id === id) ?? views.find((v) => v.dir === id)
    if (!view) {
      throw new NotFoundError(
        `No model "${id}"; known models: ${views.map((v) => v.id).join(', ') || 'none'}`,
      )
    }
    const registered = user.models.find((m) => resolvePath(m.dir) === view.dir)
    const listedBy = view.origin === 'shipped' ? 'shipped' : registered ? 'registered' : 'models-dir'
    // Also for a broken model: a folder that lost a file still has a manifest worth showing.
    const manifest = await readManifest(view.dir).catch(() => undefined)
    return {
      ...view,
      listedBy,
      ...(registered ? { addedAt: registered.addedAt } : {}),
      ...(manifest ? { manifest: manifestFacts(manifest) } : {}),
    }
  }
}
