/**
 * The inference host with `previews: 'projection'`: the model folder's preview.json is read for every
 * job; with it every image gets a preview at every scale, and a preview.json that is not used is named
 * in the scale events while full partial decodes of the first image apply.
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ScaleProgress } from '../../src-shared/protocol'
import { HostClient } from '../../src-main/host/client'
import { MODEL_DIR } from './model'

let client: HostClient
let dir: string
beforeAll(async () => {
  client = new HostClient({ onLog: () => undefined })
  dir = await mkdtemp(join(tmpdir(), 'var-host-previews-'))
  await cp(MODEL_DIR, dir, { recursive: true })
})
afterAll(async () => {
  await client.close()
})

async function run(): Promise<ScaleProgress[]> {
  const scales: ScaleProgress[] = []
  await client.call(
    'generate',
    {
      dir,
      items: [
        { classId: 1, seed: 5 },
        { classId: 8, seed: 6 },
      ],
      device: { provider: 'cpu' },
      strategy: { kind: 'baseline' },
      batchSize: 2,
      previews: 'projection',
    },
    { onProgress: (p) => p.kind === 'scale' && scales.push(p) },
  )
  return scales
}

describe('projection previews through the host', { timeout: 180_000 }, () => {
  it("every image at every scale from the folder's map; an edited map is named and full decodes apply", async () => {
    const pixels = 28 * 28
    const good = await run()
    expect(good.map((s) => s.previewKind)).toEqual([
      'projection',
      'projection',
      'projection',
      'projection',
      'projection',
      'decode',
    ])
    expect(good.every((s) => s.preview?.length === 2 * pixels && s.previewNote === undefined)).toBe(true)

    const path = join(dir, 'preview.json')
    const text = await readFile(path, 'utf8')
    await writeFile(path, text.replace('"upsample": "bilinear"', '"upsample": "bilinear", "edited": true'))
    const bad = await run()
    expect(bad.map((s) => s.previewKind)).toEqual(new Array<string>(6).fill('decode'))
    // full decodes of the first image before the last scale, as `first`
    expect(bad.map((s) => (s.preview?.length ?? 0) / pixels)).toEqual([1, 1, 1, 1, 1, 2])
    expect(bad[0].previewNote).toContain(path)
    expect(bad[0].previewNote).toMatch(/digest does not match.*full partial decodes apply/)
  })
})
