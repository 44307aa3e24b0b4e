/**
 * The client size of an element that may come and go (a scroller behind a v-if), kept current by one
 * ResizeObserver for the component's life: the viewport the virtualised lists compute their windows from.
 */
import { onBeforeUnmount, onMounted, type Ref, ref, watch } from 'vue'

export function useElementSize(
  target: Ref<HTMLElement | undefined>,
  initial: { width: number; height: number },
): { width: Ref<number>; height: Ref<number> } {
  const width = ref(initial.width)
  const height = ref(initial.height)
  const measure = (): void => {
    const el = target.value
    if (!el) return
    width.value = el.clientWidth
    height.value = el.clientHeight
  }
  let observer: ResizeObserver | undefined
  onMounted(() => {
    observer = new ResizeObserver(measure)
    watch(
      target,
      (el, old) => {
        if (old) observer?.unobserve(old)
        if (el) {
          observer?.observe(el)
          measure()
        }
      },
      { immediate: true },
    )
  })
  onBeforeUnmount(() => observer?.disconnect())
  return { width, height }
}
