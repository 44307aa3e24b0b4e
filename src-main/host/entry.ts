/**
 * Process entry of the inference host: `child_process.fork` (CLI, web host; TypeScript through tsx)
 * or an Electron utilityProcess (the app). It owns every onnxruntime session of the application.
 *
 * Environment: VAR_STUDIO_HASH_CACHE (file for cached sha256), VAR_STUDIO_PROVIDERS (comma list
 * overriding the provider ladder, for diagnostics).
 */
import { PROVIDER_NAMES, type ProviderName } from '../../src-shared/protocol'
import { createHandlers } from './handlers'
import { InferenceHost } from './host'
import { KdeWorker } from './kde-pool'
import { stderrLogger } from './ort/session'
import { processTransport } from './transport'

function ladderFromEnv(value: string | undefined): ProviderName[] | undefined {
  if (!value) return undefined
  const names = value.split(',').map((s) => s.trim())
  const bad = names.filter((n) => !(PROVIDER_NAMES as readonly string[]).includes(n))
  if (bad.length > 0) throw new Error(`VAR_STUDIO_PROVIDERS: unknown provider(s) ${bad.join(', ')}`)
  return names as ProviderName[]
}

const log = stderrLogger
const kde = new KdeWorker()
const ladder = ladderFromEnv(process.env.VAR_STUDIO_PROVIDERS)
const hashCacheFile = process.env.VAR_STUDIO_HASH_CACHE
const { handlers, models } = createHandlers({
  log,
  kde: kde.run,
  warmKde: () => {
    kde.warm()
  },
  ...(ladder ? { ladder } : {}),
  ...(hashCacheFile ? { hashCacheFile } : {}),
})
const transport = processTransport()
const host = new InferenceHost(transport, handlers, log)

// Ctrl+C in a terminal reaches the whole process group: the parent decides (it sends a cancel).
process.on('SIGINT', () => undefined)
transport.onClose(() => {
  // The parent is gone: nobody can receive results any more.
  void Promise.allSettled([models.clear(), kde.close()]).finally(() => process.exit(0))
})
host.start()
