import { describe, expect, it } from 'vitest'
import { SettingsError } from '../../src-shared/engine/strategies'
import {
  CancelledError,
  GraphContractError,
  HostCrashedError,
  InvalidRequestError,
  ManifestError,
  ProtocolError,
  ProviderError,
} from '../../src-shared/errors'
import {
  errorFromWire,
  errorToWire,
  type HostMethod,
  parseHostMessage,
  parseParams,
} from '../../src-shared/protocol'
import { type Handlers, InferenceHost, throwIfCancelled } from '../../src-main/host/host'
import type { HostTransport } from '../../src-main/host/transport'

describe('parseParams', () => {
  it('fills defaults', () => {
    const p = parseParams('generate', { dir: '/m', items: [{ classId: 1, seed: 2 }] })
    expect(p.device).toEqual({ provider: 'auto', fallback: false })
    expect(p.batchSize).toBe(16)
    expect(p.sampling).toEqual({})
    expect(parseParams('models.verify', { dir: '/m' })).toEqual({
      dir: '/m',
      hashes: true,
      graphs: true,
      force: false,
    })
  })

  const bad: [HostMethod, unknown, string, RegExp][] = [
    ['generate', { dir: '/m', items: [] }, 'items', /at least one image/],
    ['generate', { dir: '/m', items: [{ classId: 1, seed: -1 }] }, 'items.0.seed', /\[0, 9007199254740991\]/],
    [
      'generate',
      { dir: '/m', items: [{ classId: 0, seed: 1 }], sampling: { top_p: 1.5 } },
      'sampling.top_p',
      /\[0, 1\] \(0 and 1 turn it off\)/,
    ],
    [
      'generate',
      { dir: '/m', items: [{ classId: 0, seed: 1 }], sampling: { more_smooth: 1 } },
      'sampling.more_smooth',
      /must be true or false/,
    ],
    [
      'generate',
      { dir: '/m', items: [{ classId: 0, seed: 1 }], sampling: { cfg: -1 } },
      'sampling.cfg',
      />= 0/,
    ],
    ['generate', { dir: '/m', items: [{ classId: 0, seed: 1 }], batchSize: 0 }, 'batchSize', /\[1, 256\]/],
    [
      'generate',
      { dir: '/m', items: [{ classId: 0, seed: 1 }], device: { provider: 'tpu' } },
      'device.provider',
      /./,
    ],
    ['models.verify', { dir: '/m', extra: 1 }, '(root)', /unknown key/],
    ['cancel', {}, 'id', /./],
  ]
  it.each(bad)('%s rejects %j naming %s', (method, params, field, message) => {
    try {
      parseParams(method, params)
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidRequestError)
      expect((error as InvalidRequestError).field).toBe(field)
      expect((error as Error).message).toMatch(message)
      return
    }
    throw new Error('accepted')
  })
})

describe('parseHostMessage', () => {
  it('reads results, errors, progress and ready', () => {
    expect(parseHostMessage({ id: '1', result: { a: 1 } })).toEqual({
      kind: 'result',
      id: '1',
      result: { a: 1 },
    })
    expect(parseHostMessage({ id: '1', error: { name: 'E', message: 'm' } })).toMatchObject({ kind: 'error' })
    expect(parseHostMessage({ id: '2', event: 'progress', data: new Int32Array(2) })).toMatchObject({
      kind: 'progress',
      id: '2',
    })
    expect(parseHostMessage({ event: 'ready', data: { pid: 5 } })).toEqual({ kind: 'ready', pid: 5 })
  })

  it.each([
    null,
    'x',
    [1],
    {},
    { id: 1, result: 2 },
    { id: '1' },
    { id: '1', error: 'boom' },
    { event: 'x' },
  ])('rejects %j', (raw) => {
    expect(() => parseHostMessage(raw)).toThrow(ProtocolError)
  })
})

describe('errors across the boundary', () => {
  it('rebuilds the named classes with their fields and the remote stack', () => {
    const cases: Error[] = [
      new ManifestError('m', [{ path: 'Cvae', message: 'bad' }]),
      new GraphContractError('g', [{ path: 'graphs.var_step.inputs[1].shape[2]', message: 'x' }]),
      new ProviderError('p', [{ provider: 'cuda', ok: false, reason: 'no lib' }]),
      new InvalidRequestError('--top-p', 't'),
      new SettingsError('s', [{ path: 'N', message: 'must be >= 1' }]),
      new CancelledError('c'),
      new HostCrashedError('h'),
    ]
    for (const original of cases) {
      const wire = structuredClone(errorToWire(original))
      const back = errorFromWire(wire)
      expect(back).toBeInstanceOf(original.constructor)
      expect(back.name).toBe(original.name)
      expect(back.message).toBe(original.message)
      expect(back.stack).toBe(original.stack)
      for (const key of ['issues', 'attempts', 'field'] as const) {
        if (key in original)
          expect((back as unknown as Record<string, unknown>)[key]).toEqual(
            (original as unknown as Record<string, unknown>)[key],
          )
      }
    }
  })

  it('keeps unknown error names and non-errors readable', () => {
    const e = new TypeError('t')
    expect(errorFromWire(errorToWire(e)).name).toBe('TypeError')
    expect(errorToWire('plain')).toEqual({ name: 'Error', message: 'plain' })
  })
})

/** A transport whose messages are recorded; `deliver` plays the parent. */
function fakeTransport(): HostTransport & { sent: unknown[]; deliver: (m: unknown) => void } {
  let handler: (m: unknown) => void = () => undefined
  const sent: unknown[] = []
  return {
    sent,
    send: (m) => sent.push(m),
    onMessage: (h) => {
      handler = h
    },
    onClose: () => undefined,
    deliver: (m) => {
      handler(m)
    },
  }
}

function fakeHandlers(): Handlers {
  const never = (): Promise<never> => Promise.reject(new Error('not used'))
  return {
    'host.info': () =>
      Promise.resolve({
        pid: 1,
        platform: 'test',
        arch: 'x',
        versions: { node: '0', onnxruntime: '0' },
        ladder: ['cpu'],
        backends: [],
        loaded: [],
      }),
    'models.list': never,
    'models.inspect': never,
    // Runs until cancelled, sending progress meanwhile.
    'models.verify': async (_params, ctx) => {
      for (let i = 0; ; i++) {
        throwIfCancelled(ctx.signal)
        ctx.progress({
          kind: 'verify',
          phase: 'hash',
          file: 'f',
          fileIndex: 0,
          fileCount: 1,
          bytesDone: i,
          bytesTotal: 9,
        })
        await new Promise((r) => setTimeout(r, 5))
      }
    },
    generate: never,
    classify: never,
    decodeScales: never,
    features: never,
  }
}

const settle = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('InferenceHost', () => {
  it('says ready, answers a call and stays up after garbage', async () => {
    const t = fakeTransport()
    const logs: string[] = []
    const host = new InferenceHost(t, fakeHandlers(), (l) => logs.push(l))
    host.start()
    expect(t.sent[0]).toMatchObject({ event: 'ready' })

    for (const garbage of [null, 42, 'hello', [1, 2], { method: 'host.info' }, { id: '', method: 'x' }]) {
      t.deliver(garbage)
    }
    expect(logs).toHaveLength(6)
    expect(logs[0]).toMatch(/dropped a message without a usable id/)

    t.deliver({ id: 'a', method: 'nope', params: {} })
    t.deliver({ id: 'b', method: 'generate', params: { dir: '/m', items: 'all' } })
    t.deliver({ id: 'c', params: {} })
    t.deliver({ id: 'd', method: 'host.info', params: {} })
    await settle()
    const byId = (id: string): Record<string, unknown> =>
      t.sent.find((m) => (m as { id?: string }).id === id) as Record<string, unknown>
    expect(byId('a').error).toMatchObject({ name: 'ProtocolError' })
    expect(JSON.stringify(byId('a').error)).toContain('unknown method \\"nope\\"')
    expect(byId('b').error).toMatchObject({ name: 'InvalidRequestError', field: 'items' })
    expect(byId('c').error).toMatchObject({ name: 'ProtocolError' })
    expect(byId('d').result).toMatchObject({ platform: 'test' })
  })

  it('cancels a running job by id, refuses a duplicate id, and keeps serving', async () => {
    const t = fakeTransport()
    const host = new InferenceHost(t, fakeHandlers(), () => undefined)
    host.start()
    t.deliver({ id: 'job', method: 'models.verify', params: { dir: '/m' } })
    await settle()
    expect(host.running).toEqual(['job'])
    t.deliver({ id: 'job', method: 'host.info', params: {} })
    t.deliver({ id: 'k1', method: 'cancel', params: { id: 'job' } })
    t.deliver({ id: 'k2', method: 'cancel', params: { id: 'gone' } })
    await settle()
    const replies = t.sent.filter((m) => 'result' in (m as object) || 'error' in (m as object))
    expect(replies).toContainEqual({ id: 'k1', result: { cancelled: true } })
    expect(replies).toContainEqual({ id: 'k2', result: { cancelled: false } })
    const jobErrors = replies
      .filter((m) => (m as { id: string }).id === 'job')
      .map((m) => (m as { error: { name: string } }).error.name)
    expect(jobErrors.sort()).toEqual(['CancelledError', 'ProtocolError'])
    expect(t.sent.some((m) => (m as { event?: string }).event === 'progress')).toBe(true)
    expect(host.running).toEqual([])
    t.deliver({ id: 'after', method: 'host.info', params: {} })
    await settle()
    expect(t.sent.at(-1)).toMatchObject({ id: 'after', result: { platform: 'test' } })
  })
})
