/**
 * The models the studio offers: the shipped one and the user's (../storage/user-models keeps that
 * list in `<home>/settings.json`). Adding a folder runs the inference host's full `models.verify`
 * (files, sha256 and every graph), with progress pushed as `models:progress`.
 */
import type { VarManifest } from '../../src-shared/manifest'
import type { ModelView } from '../../src-shared/ipc'
import type { ModelSummary } from '../../src-shared/protocol'
import type { HostClient } from '../host/client'
import { listModels } from '../storage/model-registry'
import { readCodebook, readManifest } from '../storage/model-folder'
import { addUserModel, loadUserModels, removeUserModel, userModelFolders } from '../storage/user-models'
import { NotFoundError } from './errors'
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

export class Models {
  private readonly codebooks = new Map<string, Promise<Float32Array>>()

  constructor(
    private readonly home: string,
    private readonly client: () => HostClient,
    private readonly events: StudioEvents,
  ) {}

  private async summaries(): Promise<ModelSummary[]> {
    const user = await loadUserModels(this.home)
    return listModels({ userDirs: userModelFolders(user) })
  }

  async list(): Promise<ModelView[]> {
    const out: ModelView[] = []
    for (const s of await this.summaries()) {
      const m = s.ok ? await readManifest(s.dir).catch(() => undefined) : undefined
      out.push(toView(s, m))
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

  /** The codebook [V, Cvae] of a model folder, read once. */
  codebook(model: ResolvedModel): Promise<Float32Array> {
    let cached = this.codebooks.get(model.dir)
    if (!cached) {
      cached = readCodebook(model.dir, model.manifest)
      cached.catch(() => this.codebooks.delete(model.dir))
      this.codebooks.set(model.dir, cached)
    }
    return cached
  }

  async add(dir: string): Promise<ModelView> {
    const added = await addUserModel(this.home, dir, {
      verify: (abs) =>
        this.client().call(
          'models.verify',
          { dir: abs },
          {
            onProgress: (p) => {
              const fraction =
                p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : p.phase === 'graph' ? 1 : 0
              this.events.emit('models:progress', { dir: abs, phase: p.phase, file: p.file, fraction })
            },
          },
        ),
    })
    const views = await this.list()
    const view = views.find((v) => v.dir === added.model.dir)
    if (!view) throw new NotFoundError(`${added.model.dir} was added but is not listed; reload the models`)
    return view
  }

  async remove(id: string): Promise<{ removed: boolean }> {
    await removeUserModel(this.home, id)
    return { removed: true }
  }
}
