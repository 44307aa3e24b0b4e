/** The inference host's methods, wired to the model cache, the registry and the KDE worker. */
import { resolve } from 'node:path'
import type { KdeInput, KdeResult } from '../../src-shared/engine/kde'
import { CancelledError } from '../../src-shared/errors'
import type { Handlers } from './host'
import { throwIfCancelled } from './host'
import { handleClassify } from './classify'
import { FeatureNets } from './features'
import { handleDecodeScales } from './decode-scales'
import { handleGenerate } from './generate'
import { checkJobMemory } from './memory'
import { ModelCache } from './model-cache'
import { checkGraphs, platformLadder } from './ort/model'
import type { ProviderName } from '../../src-shared/protocol'
import { type Logger, ortVersion, supportedBackends } from './ort/session'
import { HashCache } from '../storage/hash-cache'
import { checkModelFiles, inspectModelFolder, readManifest } from '../storage/model-folder'
import { listModels } from '../storage/model-registry'

export interface HostDeps {
  readonly log: Logger
  /** the KDE; one that takes a signal stops the computation it abandons */
  readonly kde: (input: KdeInput, signal?: AbortSignal) => Promise<KdeResult>
  /** Starts the KDE worker early, when a request will need it. */
  readonly warmKde?: () => void
  /** Persisted sha256 cache; in memory when undefined. */
  readonly hashCacheFile?: string
  /** Overrides the platform's provider ladder (tests, diagnostics). */
  readonly ladder?: readonly ProviderName[]
}

/**
 * The engine draws a scale's candidates without yielding, then awaits the KDE: a cancel that arrived
 * during the draws is read here (one turn of the event loop), and one that arrives during the KDE
 * ends the wait at once.
 */
export async function cancellableKde(
  kde: HostDeps['kde'],
  input: KdeInput,
  signal: AbortSignal,
): Promise<KdeResult> {
  await new Promise<void>((resolve) => setImmediate(resolve))
  throwIfCancelled(signal)
  let onAbort: () => void = () => undefined
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => {
      reject(new CancelledError('Cancelled by request during the KDE'))
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([kde(input, signal), aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

export function createHandlers(deps: HostDeps): { handlers: Handlers; models: ModelCache } {
  const models = new ModelCache({ log: deps.log, ...(deps.ladder ? { ladder: deps.ladder } : {}) })
  const hashes = new HashCache(deps.hashCacheFile)
  const featureNets = new FeatureNets(deps.log, deps.ladder)
  const handlers: Handlers = {
    'host.info': () =>
      Promise.resolve({
        pid: process.pid,
        platform: process.platform,
        arch: process.arch,
        versions: { node: process.versions.node, onnxruntime: ortVersion() },
        ladder: deps.ladder ? [...deps.ladder] : platformLadder(),
        backends: supportedBackends(),
        loaded: models.loaded(),
      }),

    'models.list': (params) => listModels({ userDirs: params.dirs, includeShipped: params.includeShipped }),

    'models.inspect': async (params) => {
      const report = await inspectModelFolder(resolve(params.dir))
      return { dir: report.dir, manifest: report.manifest, files: report.files }
    },

    'models.verify': async (params, ctx) => {
      const dir = resolve(params.dir)
      const manifest = await readManifest(dir)
      const files = await checkModelFiles(dir, manifest, {
        hashes: params.hashes,
        force: params.force,
        cache: hashes,
        onProgress: (p) => {
          throwIfCancelled(ctx.signal)
          ctx.progress({ kind: 'verify', phase: 'hash', ...p })
        },
      })
      await hashes.save().catch((error: unknown) => {
        ctx.log(`inference host: could not save the hash cache: ${String(error)}`)
      })
      const graphs = params.graphs
        ? await checkGraphs(
            dir,
            manifest,
            (graph, index, count) => {
              throwIfCancelled(ctx.signal)
              const spec = manifest.graphs[graph]
              ctx.progress({
                kind: 'verify',
                phase: 'graph',
                file: spec?.file ?? graph,
                fileIndex: index,
                fileCount: count,
                bytesDone: index,
                bytesTotal: count,
              })
            },
            ctx.log,
          )
        : []
      const ok = files.every((f) => f.ok) && graphs.every((g) => g.ok)
      return { dir, id: manifest.id, ok, files, graphs }
    },

    generate: async (params, ctx) => {
      // A request this machine cannot hold is refused before a model is loaded, with the estimate.
      const manifest = await readManifest(resolve(params.dir))
      const { strategy, batchSize, items } = params
      checkJobMemory(manifest, { strategy, batchSize, items: items.length }, 'batchSize', 'This request')
      return handleGenerate(params, ctx, {
        models,
        // cancel takes effect before the KDE (after the candidate draws) and during it
        kde: (input) => cancellableKde(deps.kde, input, ctx.signal),
        ...(deps.warmKde ? { warmKde: deps.warmKde } : {}),
      })
    },

    classify: (params, ctx) => handleClassify(params, ctx, models),
    decodeScales: (params, ctx) => handleDecodeScales(params, ctx, models),
    features: (params, ctx) => featureNets.handle(params, ctx),
  }
  return { handlers, models }
}
