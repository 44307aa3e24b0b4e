import { call } from '../api'

/**
 * Data URLs of recorded images, fetched once per id. Bounded, because a large gallery would
 * otherwise keep every PNG in memory for the life of the page.
 */
const cache = new Map<string, Promise<string>>()
const LIMIT = 600

export function imageUrl(imageId: string): Promise<string> {
  const hit = cache.get(imageId)
  if (hit) return hit
  const pending = call('image:get', { imageId }).then((r) => r.dataUrl)
  // A failed fetch must not stick: the next view that asks tries again.
  pending.catch(() => cache.delete(imageId))
  if (cache.size >= LIMIT) {
    const oldest = cache.keys().next().value
    if (oldest !== undefined) cache.delete(oldest)
  }
  cache.set(imageId, pending)
  return pending
}

export function forgetImage(imageId: string): void {
  cache.delete(imageId)
}
