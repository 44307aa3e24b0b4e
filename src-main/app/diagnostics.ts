/** Diagnostics: what the inference host reports about itself, and the last job's provider and timings. */
import type { Diagnostics, Settings } from '../../src-shared/ipc'
import type { GenerateResult } from '../../src-shared/protocol'
import type { HostClient } from '../host/client'

type LastRun = NonNullable<Diagnostics['lastRun']>

export class DiagnosticsBook {
  private lastRun: LastRun | undefined

  record(jobId: string, result: GenerateResult): void {
    const p = result.provider
    this.lastRun = {
      jobId,
      provider: p.provider,
      requested: p.requested,
      attempts: p.attempts.map((a) => ({
        provider: a.provider,
        ok: a.ok,
        ...(a.reason ? { reason: a.reason } : {}),
      })),
      ...(p.fallbackNote ? { fallbackNote: p.fallbackNote } : {}),
      timings: { ...result.timings, images: result.images.length },
    }
  }

  async get(
    client: HostClient,
    settings: Settings,
    extraVersions: Readonly<Record<string, string>>,
  ): Promise<Diagnostics> {
    const info = await client.call('host.info', {})
    return {
      platform: info.platform,
      arch: info.arch,
      versions: { ...extraVersions, ...info.versions },
      ladder: info.ladder,
      backends: info.backends,
      device: settings.device,
      ...(this.lastRun ? { lastRun: this.lastRun } : {}),
    }
  }
}
