import { onBeforeUnmount, onMounted } from 'vue'

/**
 * Adds a window or document listener for the life of the calling component. Components use this
 * instead of touching the globals themselves, so they stay free of add/remove bookkeeping.
 */
export function useWindowListener<K extends keyof WindowEventMap>(
  type: K,
  listener: (event: WindowEventMap[K]) => void,
): void {
  onMounted(() => {
    window.addEventListener(type, listener)
  })
  onBeforeUnmount(() => {
    window.removeEventListener(type, listener)
  })
}

export function useDocumentListener<K extends keyof DocumentEventMap>(
  type: K,
  listener: (event: DocumentEventMap[K]) => void,
): void {
  onMounted(() => {
    document.addEventListener(type, listener)
  })
  onBeforeUnmount(() => {
    document.removeEventListener(type, listener)
  })
}
