/** A studio service in a temporary home on the real engine and the shipped model, and small waits. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IpcArgs, IpcChannel, IpcEvent, IpcResult, JobSpec } from '../../src-shared/ipc'
import type { EventData } from '../../src-main/app/events'
import { createStudio, type Studio } from '../../src-main/app/studio'

export const MODEL_ID = 'fashion-mnist-var-d4'

export async function tempHome(prefix: string): Promise<{ home: string; cleanup: () => Promise<void> }> {
  const home = await mkdtemp(join(tmpdir(), `var-${prefix}-`))
  return { home, cleanup: () => rm(home, { recursive: true, force: true }) }
}

/**
 * The time a hook that opens a studio may take: it reads every model's manifest, checks the shipped
 * model's files and opens the output folder, seconds on a 2-core machine that other work keeps busy.
 */
export const STUDIO_HOOK_MS = 60_000

export function openStudio(home: string, hostName: 'web' | 'electron' = 'web'): Promise<Studio> {
  return createStudio({ home, version: '0.0.0-test', hostName, log: () => undefined })
}

/** Typed call through the same validation the hosts use. */
export async function call<C extends IpcChannel>(
  studio: Studio,
  channel: C,
  args: IpcArgs<C>,
): Promise<IpcResult<C>> {
  return (await studio.handle(channel, args)) as IpcResult<C>
}

export function job(classes: number[], seed = 1, strategy: unknown = { kind: 'baseline' }): JobSpec {
  return {
    modelId: MODEL_ID,
    items: classes.map((classId, i) => ({ classId, seed: seed + i })),
    // tests pass bad strategies on purpose: the studio's schema must refuse them
    strategy: strategy as JobSpec['strategy'],
    seedPolicy: 'increment',
  }
}

/** Resolves with the first event that passes `test`. */
export function nextEvent<E extends IpcEvent>(
  studio: Studio,
  event: E,
  test: (d: EventData<E>) => boolean = () => true,
): Promise<EventData<E>> {
  return new Promise((resolve) => {
    const off = studio.on(event, (data) => {
      if (!test(data)) return
      off()
      resolve(data)
    })
  })
}
