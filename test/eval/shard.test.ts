import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src-main/cli/main'
import { DEFAULT_TEST_IMAGES } from '../../src-main/eval/reference'
import { encodeShard, layoutOf, parseShard, readShard, shardUnits } from '../../src-main/eval/shard'
import { HostClient } from '../../src-main/host/client'
import { captureIo } from '../helpers/io'
import { MODEL_DIR } from '../host/model'

let tmp: string
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'var-shard-'))
})
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true })
})

const client = (): HostClient =>
  new HostClient({
    onLog: () => undefined,
    env: { ...process.env, VAR_STUDIO_HASH_CACHE: join(tmp, 'sha256.json') },
  })

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureIo()
  const code = await main(args, c.io, { progress: { write: () => undefined }, createClient: client })
  return { code, out: c.out.join('\n'), err: c.err.join('\n') }
}

type Row = Record<string, unknown>
/** The metrics of eval.json (every row, intervals and differences included), less the wall times. */
async function metrics(dir: string): Promise<unknown[]> {
  const record = JSON.parse(await readFile(join(dir, 'eval.json'), 'utf8')) as { rows: Row[] }
  return record.rows.map((row) =>
    Object.fromEntries(Object.entries(row).filter(([k]) => k !== 'seconds' && k !== 'secondsPerImage')),
  )
}

describe('shard layout', () => {
  it('reads --shard i/n and refuses the malformed, n = 0 and an index out of range', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 })
    expect(() => parseShard('3/3')).toThrow('--shard 3/3: index 3 is out of range for 3 shards (0..2)')
    expect(() => parseShard('0/0')).toThrow('--shard 0/0: n must be at least 1, got 0')
    expect(() => parseShard('1-3')).toThrow('--shard: expected i/n (e.g. 0/4), got "1-3"')
    expect(() => parseShard('-1/3')).toThrow('expected i/n')
  })

  it('gives every unit (run, batch) to exactly one shard, in order', () => {
    for (const shards of [1, 2, 3, 7, 12]) {
      const layout = layoutOf(3, 10, 4, shards)
      const seen = Array.from({ length: shards }, (_, i) => shardUnits(layout, i)).flat()
      const images = seen.flatMap((u) => Array.from({ length: u.count }, (_, k) => `${u.run}:${u.start + k}`))
      expect(images).toEqual([0, 1, 2].flatMap((r) => Array.from({ length: 10 }, (_, i) => `${r}:${i}`)))
      // every shard starts at a batch boundary of the unsharded run
      for (const u of seen) expect(u.start % 4).toBe(0)
    }
  })
})

describe('sharded evaluation', () => {
  const data = (): string => (existsSync(DEFAULT_TEST_IMAGES) ? DEFAULT_TEST_IMAGES : '')
  const base = (): string[] => [
    'eval',
    '--model',
    MODEL_DIR,
    '--per-class',
    '1',
    '--N',
    '2,3',
    '--strategies',
    'baseline,var-scaling',
    '--bootstrap',
    '25',
    '--batch-size',
    '4',
    '--device',
    'cpu',
    '--cache-dir',
    join(tmp, 'cache'),
    ...(data() ? ['--data', data()] : []),
  ]

  it('three shards merged give exactly the unsharded eval.json, and bad shards are refused by name', async () => {
    if (!data()) {
      console.log(
        `skipped: no Fashion-MNIST test set at ${DEFAULT_TEST_IMAGES} (install dataset-fashion-mnist)`,
      )
      if (process.env.CI === 'true') throw new Error(`CI needs ${DEFAULT_TEST_IMAGES}`)
      return
    }
    const full = join(tmp, 'full')
    const r0 = await cli([...base(), '--out', full])
    expect(r0.err).toBe('')
    expect(r0.code).toBe(0)

    const shards = join(tmp, 'shards')
    for (const i of [2, 0, 1]) {
      const r = await cli([...base(), '--shard', `${i}/3`, '--out', shards])
      expect(r.err).toBe('')
      expect(r.code).toBe(0)
      expect(r.out).toBe(join(shards, `shard-${i}-of-3.json`))
    }
    const merged = join(tmp, 'merged')
    const m = await cli(['eval', 'merge', shards, '--out', merged])
    expect(m.err).toBe('')
    expect(m.code).toBe(0)
    const want = await metrics(full)
    // baseline, var-scaling N=2 and N=3, baseline block 2, real floor; runs 1 and 2 straddle shards
    expect(want).toHaveLength(5)
    expect(await metrics(merged)).toEqual(want)

    // provenance: model hashes, code, settings, seeds and layout in the shard and both records
    const shard1 = await readShard(join(shards, 'shard-1-of-3.json'))
    const manifest = JSON.parse(await readFile(join(MODEL_DIR, 'manifest.json'), 'utf8')) as {
      files: Record<string, { sha256: string }>
    }
    expect(shard1.model.files['var_step.onnx']).toBe(manifest.files['var_step.onnx'].sha256)
    expect(shard1.model.manifestSha256).toMatch(/^[0-9a-f]{64}$/)
    expect(shard1.code.commit).toMatch(/^([0-9a-f]{40}|unknown)$/)
    expect(shard1.layout).toEqual({ shards: 3, units: 12, batchSize: 4, imagesPerRun: 10 })
    expect(shard1.parts.map((p) => [p.run, p.start, p.count])).toEqual([
      [1, 4, 6],
      [2, 0, 8],
    ])
    expect(shard1.parts[0]?.featureDim).toBe(128)
    for (const dir of [full, merged]) {
      const p = (
        JSON.parse(await readFile(join(dir, 'eval.json'), 'utf8')) as {
          provenance: {
            model: unknown
            code: { version: string }
            seeds: unknown
            layout: { shards: number }
          }
        }
      ).provenance
      expect(p.model).toEqual(shard1.model)
      expect(p.seeds).toEqual({ first: 0, last: 9, secondBlock: 10 })
      expect(p.layout.shards).toBe(dir === full ? 1 : 3)
      expect(p.code.version).toMatch(/^\d+\.\d+\.\d+/)
    }

    const refused = async (paths: string[], message: string | RegExp): Promise<void> => {
      const r = await cli(['eval', 'merge', ...paths, '--out', join(tmp, 'refused')])
      expect(r.code).not.toBe(0)
      expect(r.err).toMatch(message)
      expect(existsSync(join(tmp, 'refused', 'eval.json'))).toBe(false)
    }
    const file = (i: number): string => join(shards, `shard-${i}-of-3.json`)
    await refused([file(0), file(2)], 'missing shard 1 of 3 (shard-1-of-3.json)')
    const twin = join(tmp, 'twin')
    await mkdir(twin)
    await copyFile(file(1), join(twin, 'shard-1-of-3.json'))
    await refused(
      [shards, twin],
      `duplicated shard 1 of 3: ${file(1)} and ${join(twin, 'shard-1-of-3.json')}`,
    )

    // a shard of another evaluation: other seeds, other model files, another layout
    const other = join(tmp, 'other')
    const r = await cli([...base(), '--seed', '7', '--shard', '1/3', '--out', other])
    expect(r.code).toBe(0)
    await refused(
      [file(0), join(other, 'shard-1-of-3.json'), file(2)],
      /shard-1-of-3\.json: foreign shard: its seeds differ/,
    )
    const forged = join(tmp, 'forged')
    await mkdir(forged)
    const altered = {
      ...shard1,
      model: { ...shard1.model, files: { ...shard1.model.files, 'var_step.onnx': '0'.repeat(64) } },
    }
    await writeFile(join(forged, 'shard-1-of-3.json'), encodeShard(altered))
    await refused(
      [file(0), join(forged, 'shard-1-of-3.json'), file(2)],
      /foreign shard: its model hash differs/,
    )
    const relaid = { ...shard1, layout: { ...shard1.layout, batchSize: 5 } }
    await writeFile(join(forged, 'shard-1-of-3.json'), encodeShard(relaid))
    await refused([file(0), join(forged, 'shard-1-of-3.json'), file(2)], /foreign shard: its layout differs/)

    // a truncated file, and one altered after it was written
    const text = await readFile(file(1), 'utf8')
    await writeFile(join(forged, 'shard-1-of-3.json'), text.slice(0, Math.floor(text.length / 2)))
    await refused(
      [file(0), join(forged, 'shard-1-of-3.json'), file(2)],
      `${join(forged, 'shard-1-of-3.json')}: truncated or corrupt shard file`,
    )
    const at = text.indexOf('"logits":"') + 12
    await writeFile(
      join(forged, 'shard-1-of-3.json'),
      text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1),
    )
    await refused([file(0), join(forged, 'shard-1-of-3.json'), file(2)], /checksum does not match/)
  }, 600_000)

  it('refuses --shard out of range, n = 0 and more shards than work units before generating', async () => {
    for (const [shard, message] of [
      ['3/3', '--shard 3/3: index 3 is out of range for 3 shards (0..2)'],
      ['0/0', '--shard 0/0: n must be at least 1'],
      ['a/b', '--shard: expected i/n'],
      ['0/13', '--shard: 13 shards for 12 work units (4 runs x 3 batches of 4); use at most 12 shards'],
    ] as const) {
      const r = await cli([...base(), '--shard', shard, '--out', join(tmp, 'never')])
      expect(r.code).toBe(1)
      expect(r.err).toContain(message)
    }
    expect(existsSync(join(tmp, 'never'))).toBe(false)
    const noOut = await cli([...base(), '--shard', '0/2'])
    expect(noOut.code).toBe(1)
    expect(noOut.err).toContain('--shard: give --out DIR')
  })
})
