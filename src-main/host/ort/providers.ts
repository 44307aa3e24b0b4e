/**
 * The execution-provider ladder. onnxruntime-node has no automatic fallback between providers (a
 * session asked for ['cuda', 'cpu'] fails outright when CUDA cannot load), so every provider gets its
 * own attempt and the reason each one failed is kept for the result and the diagnostics panel.
 * Pure logic: the session opener is injected, so tests can drive it without onnxruntime.
 */
import { ModelLoadError, type ProviderAttempt, ProviderError } from '../../../src-shared/errors'
import type { DeviceChoice, ProviderName, ProviderReport } from '../../../src-shared/protocol'

/**
 * The auto ladder for a platform, following the prebuilt binaries of onnxruntime-node 1.30: CUDA
 * (Linux x64, CUDA 12, installed separately), DirectML (Windows), CoreML (macOS), WebGPU
 * (experimental; not in the Linux arm64 build), and cpu everywhere.
 */
export function ladderFor(platform: string, arch: string): ProviderName[] {
  switch (platform) {
    case 'linux':
      return arch === 'x64' ? ['cuda', 'webgpu', 'cpu'] : ['cpu']
    case 'win32':
      return ['dml', 'webgpu', 'cpu']
    case 'darwin':
      return ['coreml', 'webgpu', 'cpu']
    default:
      return ['cpu']
  }
}

/** The providers to try, in order, for a device choice. */
export function providersToTry(choice: DeviceChoice, ladder: readonly ProviderName[]): ProviderName[] {
  if (choice.provider === 'auto') return ladder.includes('cpu') ? [...ladder] : [...ladder, 'cpu']
  if (choice.provider === 'cpu' || !choice.fallback) return [choice.provider]
  return [choice.provider, 'cpu']
}

function reasonOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error)
  return text.split('\n')[0]?.trim().slice(0, 500) ?? 'failed'
}

/**
 * Opens something (a whole model's sessions) with one provider at a time until one works.
 * A ModelLoadError from the opener means the model itself is bad: it is rethrown at once, since
 * no other provider would do better. Throws ProviderError listing every attempt when none works.
 */
export async function openWithLadder<T>(
  choice: DeviceChoice,
  ladder: readonly ProviderName[],
  open: (provider: ProviderName, deviceId: number | undefined) => Promise<T>,
): Promise<{ value: T; report: ProviderReport }> {
  const order = providersToTry(choice, ladder)
  const attempts: ProviderAttempt[] = []
  const deviceId = choice.deviceId
  for (const provider of order) {
    // deviceId selects a GPU; cpu, coreml and webgpu take none.
    const id = provider === 'cuda' || provider === 'dml' ? deviceId : undefined
    try {
      const value = await open(provider, id)
      attempts.push({ provider, ok: true })
      const report: ProviderReport = {
        provider,
        requested: choice.provider,
        ...(id === undefined ? {} : { deviceId: id }),
        attempts,
        ...(choice.provider !== 'auto' && provider !== choice.provider
          ? {
              fallbackNote: `${choice.provider} failed (${attempts[0]?.reason ?? 'unknown reason'}); ran on ${provider} instead`,
            }
          : {}),
      }
      return { value, report }
    } catch (error) {
      if (error instanceof ModelLoadError) throw error
      attempts.push({ provider, ok: false, reason: reasonOf(error) })
    }
  }
  const tried = attempts.map((a) => `${a.provider}: ${a.reason ?? 'failed'}`).join('; ')
  if (choice.provider !== 'auto') {
    const device = choice.deviceId === undefined ? '' : ` (device ${choice.deviceId})`
    throw new ProviderError(
      `Execution provider "${choice.provider}"${device} could not be used: ${tried}. ` +
        'Choose another device, or allow fallback to cpu.',
      attempts,
    )
  }
  throw new ProviderError(`No execution provider could open the model: ${tried}`, attempts)
}
