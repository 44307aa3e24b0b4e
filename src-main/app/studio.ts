/**
 * The studio service behind both hosts (Electron main and the web host): validates every call with
 * the contract's schemas, dispatches it to one domain module, and pushes events. Pure Node: the
 * Electron-only pieces (dialogs, opening folders, the utilityProcess) are passed in.
 */
import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { InvalidRequestError } from '../../src-shared/errors'
import {
  callSchemas,
  type IpcChannel,
  type IpcEvent,
  type IpcParsedArgs,
  type IpcResult,
  isIpcChannel,
} from '../../src-shared/ipc'
import { issuesText } from '../../src-shared/protocol'
import { HostClient } from '../host/client'
import type { SpawnHost } from '../host/host-process'
import { checkJobMemory } from '../host/memory'
import { parseBatch, queueBatch } from './batch'
import { DiagnosticsBook } from './diagnostics'
import { fsProblem, StorageError } from './errors'
import { type EventData, type StudioListener, StudioEvents } from './events'
import { Experiments } from './experiments'
import { exportGrid } from './export'
import { History } from './history'
import { lockHome } from './home-lock'
import { imageDataUrl, imageParams } from './images'
import { toNewJob } from './jobs'
import { Models } from './model-list'
import { Queue } from './queue'
import { partialDecoder } from './partials'
import { pngInfo } from './png-info'
import { jobExecutor } from './run-job'
import { checkOutputDir, type SettingsBackend, SettingsStore } from './settings'

export interface StudioOptions {
  /** settings, queue and model list live here */
  readonly home: string
  /** overrides the output folder of the settings for this session (the CLI's --out) */
  readonly outputDir?: string | undefined
  readonly version: string
  readonly hostName: 'electron' | 'web'
  /** Electron passes a utilityProcess-based spawner; plain Node forks */
  readonly spawnHost?: SpawnHost
  /** the inference host's entry file (a bundled app has its own); ../host/entry.ts by default */
  readonly hostEntry?: string
  readonly hostEnv?: NodeJS.ProcessEnv
  readonly log?: (line: string) => void
  /** where the host's log files are (shown in Settings and by app:info) */
  readonly logsDir?: string
  /** native dialogs and folders (Electron); the web host has none and answers null / false */
  readonly native?: {
    savePath(defaultName: string): Promise<string | null>
    chooseFolder(title: string | undefined): Promise<string | null>
    open(what: 'output' | 'logs' | 'models', outputDir: string): Promise<boolean>
  }
  readonly versions?: { readonly electron?: string; readonly chrome?: string }
  /** the Electron app keeps settings through electron-store; a JSON file otherwise */
  readonly settingsBackend?: SettingsBackend
}

export interface Studio {
  handle(channel: string, rawArgs: unknown): Promise<unknown>
  on<E extends IpcEvent>(event: E, listener: (data: EventData<E>) => void): () => void
  onAny(listener: StudioListener): () => void
  /** for tests and the bench: resolves when the queue has nothing left it can run */
  idle(): Promise<void>
  readonly home: string
  outputDir(): string
  close(): Promise<void>
}

type Handlers = {
  [C in IpcChannel]: (args: IpcParsedArgs<C>, raw: unknown) => Promise<IpcResult<C>> | IpcResult<C>
}

export async function createStudio(options: StudioOptions): Promise<Studio> {
  const home = resolve(options.home)
  const log =
    options.log ??
    ((line: string) => {
      console.warn(line)
    })
  try {
    await mkdir(home, { recursive: true })
  } catch (error) {
    throw new StorageError(fsProblem('create the studio folder', home, error), { cause: error })
  }
  const unlock = await lockHome(home)
  try {
    return await openStudio(home, options, log, unlock)
  } catch (error) {
    await unlock()
    throw error
  }
}

async function openStudio(
  home: string,
  options: StudioOptions,
  log: (line: string) => void,
  unlock: () => Promise<void>,
): Promise<Studio> {
  const events = new StudioEvents()
  const settings = await SettingsStore.open(home, events, log, options.settingsBackend)
  const defaultOutput = join(home, 'outputs')
  const outputOf = (): string => resolve(options.outputDir ?? (settings.get().outputDir || defaultOutput))
  let history: History
  try {
    // a saved folder is held to the rules a new choice is (a full path, not a system folder,
    // writable, no tree of folders created); the command line's --out is the user's own
    if (options.outputDir === undefined && settings.get().outputDir) await checkOutputDir(outputOf())
    history = await History.open(outputOf(), events, log)
  } catch (error) {
    // A saved output folder that went away or became unusable must not keep the studio from starting.
    if (options.outputDir !== undefined || outputOf() === resolve(defaultOutput)) throw error
    log(
      `${error instanceof Error ? error.message : String(error)}; using ${defaultOutput} until another output folder is chosen`,
    )
    history = await History.open(defaultOutput, events, log)
  }
  // settings:set calls run one at a time, so two quick changes of the output folder cannot cross.
  let settingsTurn: Promise<unknown> = Promise.resolve()
  let client: HostClient | undefined
  const hostEnv = options.hostEnv ?? {
    ...process.env,
    VAR_STUDIO_HASH_CACHE: process.env.VAR_STUDIO_HASH_CACHE ?? join(home, 'cache', 'sha256.json'),
  }
  const getClient = (): HostClient =>
    (client ??= new HostClient({
      env: hostEnv,
      onLog: (text) => {
        if (process.env.VAR_STUDIO_VERBOSE === '1') process.stderr.write(text)
      },
      ...(options.spawnHost ? { spawn: options.spawnHost } : {}),
      ...(options.hostEntry ? { entry: options.hostEntry } : {}),
    }))
  const models = new Models(home, getClient, events)
  const diagnostics = new DiagnosticsBook()
  const execute = jobExecutor({
    client: getClient,
    models,
    history: () => history,
    settings: () => settings.get(),
    events,
    version: options.version,
    onResult: (jobId, result) => {
      diagnostics.record(jobId, result)
    },
  })
  // the history is written before the queue: after a crash it says what each job finished
  const queue = await Queue.open(home, events, execute, log, (jobId) => history.idsOfJob(jobId))
  const experiments = await Experiments.open({
    home,
    queue,
    history: () => history,
    models,
    client: getClient,
    device: () => settings.get().device,
    batchSize: () => settings.get().batchSize,
    events,
    log,
  })
  const decodePartials = partialDecoder({
    history: () => history,
    models,
    client: getClient,
    settings: () => settings.get(),
    events,
  })
  // A page served over the network must not read files by path from this machine.
  const allowPaths = options.hostName === 'electron'

  const handlers: Handlers = {
    'app:info': () => ({
      name: 'VAR Studio',
      version: options.version,
      platform: process.platform,
      host: options.hostName,
      versions: { ...options.versions, node: process.versions.node },
      outputDir: history.outputDir,
      ...(options.logsDir === undefined ? {} : { logsDir: options.logsDir }),
    }),
    'settings:get': () => settings.get(),
    'settings:set': (parsed, raw) => {
      const turn = settingsTurn.then(async () => {
        // A new output folder is opened before it is saved: one that cannot hold the history would
        // otherwise be kept and fail every later start. (zod fills defaults into every key of a
        // partial schema, so the raw patch says which keys were sent.)
        const sent = typeof raw === 'object' && raw !== null && 'outputDir' in raw
        let opened: History | undefined
        if (sent && options.outputDir === undefined) {
          const dir = parsed.outputDir ?? ''
          // a full path, not a system folder, writable; only the folder itself may be created
          const target = dir === '' ? resolve(defaultOutput) : await checkOutputDir(dir)
          if (target !== history.outputDir) opened = await History.open(target, events, log)
        }
        const next = await settings.set(raw)
        if (opened) {
          await history.flush()
          history = opened
          events.emit('history:changed', { added: [], removed: [] })
        }
        return next
      })
      settingsTurn = turn.catch(() => undefined)
      return turn
    },
    'models:list': () => models.list(),
    'models:add': ({ dir }) => models.add(dir),
    'models:remove': ({ id }) => models.remove(id),
    'models:dir': ({ dir }) => models.dir(dir),
    'models:show': ({ id }) => models.show(id),
    'models:calibrate': ({ id, scale, cfg, topkShare }) =>
      models.calibrate(id, { scale, cfg, topkShare }, options.version),
    'diagnostics:get': () => diagnostics.get(getClient(), settings.get(), { ...options.versions }),
    'queue:get': () => queue.snapshot(),
    'queue:add': async ({ jobs }) => {
      const created = []
      const resolve = models.resolver()
      const { batchSize } = settings.get()
      for (const [i, spec] of jobs.entries()) {
        const made = await toNewJob(spec, `jobs[${i}]`, resolve)
        // a job this machine cannot hold is refused now, with the estimate, not when it runs out
        const { manifest } = await resolve(made.modelId)
        const items = made.items.length
        checkJobMemory(
          manifest,
          { strategy: made.strategy, batchSize, items: Math.min(batchSize, items) },
          `jobs[${i}]`,
          `jobs[${i}]: this job`,
        )
        created.push(made)
      }
      return { jobIds: await queue.add(created) }
    },
    'queue:cancel': ({ jobId }) => queue.cancel(jobId),
    'queue:runNext': ({ jobId }) => queue.runNext(jobId),
    'queue:resume': ({ jobId }) => queue.resume(jobId),
    'queue:pause': ({ paused }) => queue.pause(paused),
    'queue:clear': () => queue.clear(),
    'history:list': (filter) => history.list(filter),
    'history:timeline': ({ imageId }) => history.timeline(imageId),
    'history:decodeScales': ({ imageId }) => decodePartials(imageId),
    'history:delete': ({ imageId }) => history.delete(imageId),
    'image:get': ({ imageId }) => imageDataUrl(history.get(imageId), history),
    'image:params': ({ imageId }) => imageParams(history.get(imageId), history),
    'png:info': (args) => pngInfo(args, models, allowPaths),
    'batch:parse': ({ source, modelId }) => parseBatch(source, modelId, models, allowPaths),
    'batch:queue': ({ source, defaults }) => queueBatch(source, defaults, models, queue, allowPaths),
    'export:grid': (spec) =>
      exportGrid(spec, {
        history,
        embedDefault: settings.get().embedMetadata,
        version: options.version,
        allowPaths,
      }),
    'experiments:run': (spec) => experiments.run(spec),
    'experiments:list': () => experiments.list(),
    'experiments:get': ({ sweepId }) => experiments.get(sweepId),
    'dialog:savePath': async ({ defaultName }) => {
      if (!options.native) return { path: null, cancelled: false }
      const path = await options.native.savePath(defaultName)
      return { path, cancelled: path === null }
    },
    'dialog:chooseFolder': async ({ title }) => ({
      path: options.native ? await options.native.chooseFolder(title) : null,
    }),
    'shell:open': async ({ what }) => {
      const path = what === 'output' ? history.outputDir : what === 'logs' ? options.logsDir : undefined
      return {
        opened: options.native ? await options.native.open(what, history.outputDir) : false,
        ...(path === undefined ? {} : { path }),
      }
    },
  }

  return {
    home,
    outputDir: () => history.outputDir,
    async handle(channel, rawArgs) {
      if (!isIpcChannel(channel)) {
        throw new InvalidRequestError(
          'channel',
          `Unknown call "${channel.slice(0, 100)}"; this host does not offer it`,
        )
      }
      const parsed = callSchemas[channel].safeParse(rawArgs ?? {})
      if (!parsed.success) {
        const { field, text } = issuesText(parsed.error)
        throw new InvalidRequestError(field, `${channel}: ${text}`)
      }
      const handler = handlers[channel] as (args: unknown, raw: unknown) => unknown
      return await handler(parsed.data, rawArgs)
    },
    on: (event, listener) => events.on(event, listener),
    onAny: (listener) => events.onAny(listener),
    idle: () => queue.idle(),
    async close() {
      try {
        await queue.close()
        await Promise.all([settings.flush(), history.flush()])
        await client?.close()
      } finally {
        await unlock()
      }
    },
  }
}
