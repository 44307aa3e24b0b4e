/** Typed push events of the studio (the contract's `eventSchemas`), fanned out to every listener. */
import type { IpcEvent, IpcEventData } from '../../src-shared/ipc'

/** Event data as the hosts hold it (read-only views); listeners only forward or show it. */
export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T
export type EventData<E extends IpcEvent> = DeepReadonly<IpcEventData<E>>

export type StudioListener = <E extends IpcEvent>(event: E, data: EventData<E>) => void

export class StudioEvents {
  private readonly listeners = new Set<StudioListener>()
  private readonly byEvent = new Map<IpcEvent, Set<(data: never) => void>>()

  emit<E extends IpcEvent>(event: E, data: EventData<E>): void {
    for (const listener of this.listeners)
      this.safely(() => {
        listener(event, data)
      })
    for (const listener of this.byEvent.get(event) ?? [])
      this.safely(() => {
        listener(data as never)
      })
  }

  /** Every event: how the web host and Electron main forward them. Returns the unsubscribe. */
  onAny(listener: StudioListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  on<E extends IpcEvent>(event: E, listener: (data: EventData<E>) => void): () => void {
    let set = this.byEvent.get(event)
    if (!set) this.byEvent.set(event, (set = new Set()))
    const entry = listener as (data: never) => void
    set.add(entry)
    return () => set.delete(entry)
  }

  // One broken listener (a closed socket, a destroyed window) must not stop the others.
  private safely(f: () => void): void {
    try {
      f()
    } catch (error) {
      console.error('studio event listener failed:', error)
    }
  }
}
