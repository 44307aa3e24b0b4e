/**
 * The renderer's one way to reach its host. Only the preload's API *type* is imported; the value
 * is what the preload exposed on `window.studio` (absent when the page runs outside Electron).
 */
import type { StudioApi } from '../../src-main/electron/preload'

declare global {
  interface Window {
    studio?: StudioApi
  }
}

export type { StudioApi }

export function getStudioApi(): StudioApi | undefined {
  return window.studio
}
