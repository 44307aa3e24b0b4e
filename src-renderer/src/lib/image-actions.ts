import type { ImageEntry } from '../../../src-shared/ipc'
import { call } from '../api'
import { useGenerateStore } from '../stores/generate'
import { useHistoryStore } from '../stores/history'
import { useInspectStore } from '../stores/inspect'
import { useNavStore } from '../stores/nav'
import { useNoticesStore } from '../stores/notices'
import { forgetImage } from './image-cache'

/** What Gallery, History and the image dialog can do with one recorded image. */
export function useImageActions() {
  const nav = useNavStore()
  const notices = useNoticesStore()
  const inspect = useInspectStore()
  return {
    /** Reads the parameters back from the PNG and loads them into Generate. */
    async reopen(image: ImageEntry): Promise<void> {
      const params = await notices.attempt('Reading the image parameters', () =>
        call('image:params', { imageId: image.id }),
      )
      if (!params) return
      useGenerateStore().load(params)
      nav.go('generate')
    },
    timeline(image: ImageEntry): void {
      void inspect.open(image.id)
      nav.go('timeline')
    },
    density(image: ImageEntry): void {
      void inspect.open(image.id)
      nav.go('density')
    },
    async remove(image: ImageEntry): Promise<boolean> {
      if (!window.confirm(`Delete this image (${image.className}, seed ${image.seed}) and its file?`))
        return false
      const deleted = await useHistoryStore().remove(image.id)
      if (deleted) forgetImage(image.id)
      return deleted
    },
  }
}
