import { describe, expect, it } from 'vitest'
import { ModelLoadError, ProviderError } from '../../src-shared/errors'
import type { DeviceChoice, ProviderName } from '../../src-shared/protocol'
import { ladderFor, openWithLadder, providersToTry } from '../../src-main/host/ort/providers'

const auto: DeviceChoice = { provider: 'auto', fallback: false }

/** An opener that fails for the named providers and records every call. */
function opener(failing: Partial<Record<ProviderName, Error>>) {
  const calls: [ProviderName, number | undefined][] = []
  const open = (provider: ProviderName, deviceId: number | undefined): Promise<string> => {
    calls.push([provider, deviceId])
    const error = failing[provider]
    return error ? Promise.reject(error) : Promise.resolve(`session on ${provider}`)
  }
  return { calls, open }
}

describe('provider ladder', () => {
  it('follows the prebuilt binaries of onnxruntime-node per platform', () => {
    expect(ladderFor('linux', 'x64')).toEqual(['cuda', 'webgpu', 'cpu'])
    expect(ladderFor('linux', 'arm64')).toEqual(['cpu'])
    expect(ladderFor('win32', 'x64')).toEqual(['dml', 'webgpu', 'cpu'])
    expect(ladderFor('darwin', 'arm64')).toEqual(['coreml', 'webgpu', 'cpu'])
    expect(ladderFor('freebsd', 'x64')).toEqual(['cpu'])
  })

  it('tries an explicit choice alone, or then cpu with fallback', () => {
    const ladder = ladderFor('linux', 'x64')
    expect(providersToTry(auto, ladder)).toEqual(ladder)
    expect(providersToTry({ provider: 'webgpu', fallback: false }, ladder)).toEqual(['webgpu'])
    expect(providersToTry({ provider: 'dml', fallback: true }, ladder)).toEqual(['dml', 'cpu'])
    expect(providersToTry({ provider: 'cpu', fallback: true }, ladder)).toEqual(['cpu'])
    expect(providersToTry(auto, ['cuda'])).toEqual(['cuda', 'cpu'])
  })

  it('walks the ladder one provider per attempt and records why each failed', async () => {
    const { calls, open } = opener({
      cuda: new Error('Failed to load shared library\nmore'),
      webgpu: new Error('no adapter'),
    })
    const { value, report } = await openWithLadder(auto, ['cuda', 'webgpu', 'cpu'], open)
    expect(value).toBe('session on cpu')
    expect(calls.map((c) => c[0])).toEqual(['cuda', 'webgpu', 'cpu'])
    expect(report).toEqual({
      provider: 'cpu',
      requested: 'auto',
      attempts: [
        { provider: 'cuda', ok: false, reason: 'Failed to load shared library' },
        { provider: 'webgpu', ok: false, reason: 'no adapter' },
        { provider: 'cpu', ok: true },
      ],
    })
  })

  it('stops at the first provider that works', async () => {
    const { calls, open } = opener({})
    const { report } = await openWithLadder(auto, ['cuda', 'webgpu', 'cpu'], open)
    expect(report.provider).toBe('cuda')
    expect(calls).toHaveLength(1)
  })

  it('passes the GPU index to cuda and dml only', async () => {
    const { calls, open } = opener({ cuda: new Error('x') })
    const { report } = await openWithLadder(
      { provider: 'cuda', deviceId: 3, fallback: true },
      ['cuda', 'cpu'],
      open,
    )
    expect(calls).toEqual([
      ['cuda', 3],
      ['cpu', undefined],
    ])
    expect(report.deviceId).toBeUndefined()
    expect(report.fallbackNote).toBe('cuda failed (x); ran on cpu instead')
  })

  it('fails clearly when an explicit provider fails without fallback', async () => {
    const { calls, open } = opener({ cuda: new Error('invalid device id') })
    const failure = openWithLadder({ provider: 'cuda', deviceId: 7, fallback: false }, ['cuda', 'cpu'], open)
    await expect(failure).rejects.toThrow(ProviderError)
    await expect(failure).rejects.toThrow(
      'Execution provider "cuda" (device 7) could not be used: cuda: invalid device id. Choose another device, or allow fallback to cpu.',
    )
    expect(calls).toHaveLength(1)
  })

  it('lists every attempt when nothing works', async () => {
    const { open } = opener({ webgpu: new Error('a'), cpu: new Error('b') })
    const error = await openWithLadder(auto, ['webgpu', 'cpu'], open).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProviderError)
    expect((error as ProviderError).attempts.map((a) => a.reason)).toEqual(['a', 'b'])
    expect((error as Error).message).toBe('No execution provider could open the model: webgpu: a; cpu: b')
  })

  it('does not try other providers when the model itself is bad', async () => {
    const { calls, open } = opener({ cuda: new ModelLoadError('var_step.onnx could not be loaded') })
    await expect(openWithLadder(auto, ['cuda', 'cpu'], open)).rejects.toThrow(ModelLoadError)
    expect(calls).toHaveLength(1)
  })
})
