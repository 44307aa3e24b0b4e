import { defineStore } from 'pinia'
import { ref } from 'vue'
import { errorMessage } from '../lib/host-error'

export interface Notice {
  readonly id: number
  readonly message: string
  readonly context?: string
}

/** Errors to show in the banner: the host's message, verbatim, with what the user was doing. */
export const useNoticesStore = defineStore('notices', () => {
  const notices = ref<Notice[]>([])
  let nextId = 1

  function report(error: unknown, context?: string): void {
    const message = errorMessage(error)
    // The same failure repeated (a retry loop, a double click) should not stack up.
    if (notices.value.some((n) => n.message === message && n.context === context)) return
    notices.value = [...notices.value.slice(-4), { id: nextId++, message, ...(context ? { context } : {}) }]
  }

  function dismiss(id: number): void {
    notices.value = notices.value.filter((n) => n.id !== id)
  }

  /** Runs a host call, reporting its failure; resolves to undefined when it failed. */
  async function attempt<T>(context: string, work: () => Promise<T>): Promise<T | undefined> {
    try {
      return await work()
    } catch (error) {
      report(error, context)
      return undefined
    }
  }

  return { notices, report, dismiss, attempt }
})
