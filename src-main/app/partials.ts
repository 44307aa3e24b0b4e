/**
 * Partial decodes on demand: an image made with previews off, or not the first of its batch, has token
 * maps but no partial images in its timeline, and one made with the cheap projection previews has
 * approximations. The host replays its token maps through vq_step and the decoder (no transformer
 * step); the full decodes replace what was missing or projected, and are kept in the timeline file.
 */
import type { Settings, Timeline } from '../../src-shared/ipc'
import type { HostClient } from '../host/client'
import { encodePng, pngDataUrl, toRaw } from '../storage/png'
import { NotFoundError } from './errors'
import type { StudioEvents } from './events'
import type { History } from './history'
import type { Models } from './model-list'

export interface PartialsDeps {
  readonly history: () => History
  readonly models: Models
  readonly client: () => HostClient
  readonly settings: () => Settings
  readonly events: StudioEvents
}

export function partialDecoder(deps: PartialsDeps): (imageId: string) => Promise<Timeline> {
  // one host call per image at a time: a second request for the same image waits for the first
  const running = new Map<string, Promise<Timeline>>()
  return (imageId) => {
    let job = running.get(imageId)
    if (!job) {
      job = decodeMissing(deps, imageId).finally(() => running.delete(imageId))
      running.set(imageId, job)
    }
    return job
  }
}

async function decodeMissing(deps: PartialsDeps, imageId: string): Promise<Timeline> {
  const history = deps.history()
  const entry = history.get(imageId)
  const timeline = await history.timeline(imageId)
  const decoded = (s: Timeline['scales'][number]): boolean =>
    s.preview !== undefined && s.previewKind !== 'projection'
  if (timeline.scales.every(decoded)) return timeline
  const model = await deps.models.resolve(entry.modelId).catch((error: unknown) => {
    if (!(error instanceof NotFoundError)) throw error
    throw new NotFoundError(
      `The model "${entry.modelId}" that made this image is not in the model list any more; add its ` +
        `folder under Models to decode the partial images`,
      { cause: error },
    )
  })
  const result = await deps.client().call(
    'decodeScales',
    { dir: model.dir, device: deps.settings().device, tokenMaps: timeline.scales.map((s) => [...s.tokens]) },
    {
      onProgress: (p) => {
        if (p.kind === 'decode') {
          deps.events.emit('history:decodeProgress', { imageId, done: p.si + 1, scales: p.scales })
        }
      },
    },
  )
  const { channels: C, height: H, width: W } = result
  const size = C * H * W
  const urls = await Promise.all(
    timeline.scales.map(
      async (s, si) =>
        (decoded(s) ? s.preview : undefined) ??
        pngDataUrl(await encodePng(toRaw(result.images.subarray(si * size, (si + 1) * size), C, H, W))),
    ),
  )
  const updated: Timeline = {
    ...timeline,
    // every preview is a decode now: the projection marks go
    scales: timeline.scales.map((s, si) => {
      const scale = { ...s, preview: urls[si] }
      delete scale.previewKind
      return scale
    }),
  }
  // the image may have been deleted (or the output folder switched) while the host worked
  const now = deps.history()
  if (now === history) await history.setTimeline(imageId, updated)
  return updated
}
