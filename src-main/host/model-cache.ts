/**
 * Loaded models of the inference host, one per (folder, device choice). Loading checks the manifest
 * and file sizes, reads the codebook and opens every graph with the provider ladder; the graphs'
 * inputs and outputs are checked against the manifest on the way. Idle models beyond `max` are
 * released, oldest first; a model in use by a job is never released under it.
 */
import { resolve } from 'node:path'
import type { VarManifest } from '../../src-shared/manifest'
import type { DeviceChoice, ProviderName } from '../../src-shared/protocol'
import { assertFilesOk, checkModelFiles, readCodebook, readManifest } from '../storage/model-folder'
import { openModel, type OpenedModel } from './ort/model'
import type { Logger } from './ort/session'

export interface LoadedModel {
  readonly key: string
  readonly dir: string
  readonly manifest: VarManifest
  readonly codebook: Float32Array
  readonly opened: OpenedModel
  readonly loadMs: number
}

interface Slot {
  model: Promise<LoadedModel>
  ready?: LoadedModel
  users: number
  lastUsed: number
}

export interface ModelCacheOptions {
  readonly ladder?: readonly ProviderName[]
  readonly log: Logger
  /** Idle models kept open. */
  readonly max?: number
}

const keyOf = (dir: string, d: DeviceChoice): string =>
  [resolve(dir), d.provider, d.deviceId ?? '', d.fallback ? 'fallback' : ''].join('|')

export class ModelCache {
  private readonly slots = new Map<string, Slot>()

  constructor(private readonly options: ModelCacheOptions) {}

  /** Loads (or reuses) a model and holds it until the returned release is called. */
  async acquire(
    dir: string,
    device: DeviceChoice,
    onStatus?: (message: string) => void,
  ): Promise<{ model: LoadedModel; cached: boolean; release: () => void }> {
    const key = keyOf(dir, device)
    let slot = this.slots.get(key)
    const cached = slot !== undefined
    if (!slot) {
      const fresh: Slot = {
        model: this.load(key, resolve(dir), device, onStatus),
        users: 0,
        lastUsed: Date.now(),
      }
      fresh.model.then(
        (m) => (fresh.ready = m),
        () => undefined,
      )
      this.slots.set(key, fresh)
      slot = fresh
    }
    slot.users++
    const held = slot
    let model: LoadedModel
    try {
      model = await held.model
    } catch (error) {
      held.users--
      if (this.slots.get(key) === held) this.slots.delete(key)
      throw error
    }
    let released = false
    return {
      model,
      cached,
      release: () => {
        if (released) return
        released = true
        held.users--
        held.lastUsed = Date.now()
        void this.evict()
      },
    }
  }

  private async load(
    key: string,
    dir: string,
    device: DeviceChoice,
    onStatus?: (message: string) => void,
  ): Promise<LoadedModel> {
    const t0 = performance.now()
    onStatus?.(`reading ${dir}`)
    const manifest = await readManifest(dir)
    assertFilesOk({ dir, manifest, files: await checkModelFiles(dir, manifest) })
    const codebook = await readCodebook(dir, manifest)
    onStatus?.(`opening ${manifest.id} (${device.provider === 'auto' ? 'auto provider' : device.provider})`)
    const opened = await openModel(dir, manifest, device, {
      log: this.options.log,
      ...(this.options.ladder ? { ladder: this.options.ladder } : {}),
    })
    return { key, dir, manifest, codebook, opened, loadMs: performance.now() - t0 }
  }

  private async evict(): Promise<void> {
    const max = this.options.max ?? 2
    const idle = [...this.slots.entries()]
      .filter(([, s]) => s.users === 0)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed)
    while (this.slots.size > max && idle.length > 0) {
      const [key, slot] = idle.shift() ?? []
      if (!key || !slot) break
      this.slots.delete(key)
      try {
        await (await slot.model).opened.release()
      } catch (error) {
        this.options.log(`inference host: releasing ${key} failed: ${String(error)}`)
      }
    }
  }

  /** Models that finished loading. */
  loaded(): { dir: string; id: string; provider: ProviderName }[] {
    return [...this.slots.values()].flatMap((s) =>
      s.ready
        ? [{ dir: s.ready.dir, id: s.ready.manifest.id, provider: s.ready.opened.provider.provider }]
        : [],
    )
  }

  async clear(): Promise<void> {
    const slots = [...this.slots.values()]
    this.slots.clear()
    await Promise.allSettled(slots.map(async (s) => (await s.model).opened.release()))
  }
}
