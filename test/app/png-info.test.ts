/**
 * PNG Info through the studio's own channel (png:info): a PNG the studio wrote loads back exactly;
 * an A1111 PNG gives its prompt (matched to a class), seed and CFG; malformed and hostile files get
 * a plain message and never a crash or a huge allocation; paths only where the host allows them.
 * Also: grid exports list strategies in the one order with their names.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { crc32, deflateSync } from 'node:zlib'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Studio } from '../../src-main/app/studio'
import { addTextChunks } from '../../src-main/storage/png'
import { parseParameters } from '../../src-main/storage/png-info'
import { STRATEGY_ORDER } from '../../src-shared/strategy-names'
import { call, MODEL_ID, openStudio, tempHome } from './studio-helpers'

let home: string
let cleanup: () => Promise<void>
let studio: Studio
let webStudio: Studio | undefined

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('png-info'))
  studio = await openStudio(home, 'electron')
  const items = [{ classId: 7, seed: 4_000_000_123 }]
  await call(studio, 'queue:add', {
    jobs: [
      { modelId: MODEL_ID, items, strategy: { kind: 'var-scaling', N: 6, k: 2 }, seedPolicy: 'fixed' },
      { modelId: MODEL_ID, items, strategy: { kind: 'topk-only', N: 6, k: 2 }, seedPolicy: 'fixed' },
      {
        modelId: MODEL_ID,
        items,
        strategy: { kind: 'baseline' },
        sampling: { cfg: 2.5, top_k: 7, top_p: 0.9 },
        seedPolicy: 'fixed',
      },
    ],
  })
  await studio.idle()
}, 120_000)
afterAll(async () => {
  await studio.close()
  await webStudio?.close()
  await cleanup()
})

const content = (name: string, bytes: Uint8Array) => ({
  kind: 'content' as const,
  name,
  base64: Buffer.from(bytes).toString('base64'),
})

async function plainPng(): Promise<Buffer> {
  return sharp({ create: { width: 8, height: 6, channels: 3, background: '#808080' } })
    .png()
    .toBuffer()
}

/** A chunk with a correct CRC. */
function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'latin1')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])))
  return Buffer.concat([head, data, crc])
}

describe('png:info', () => {
  it('reads back a PNG the studio made, exactly, and loads its model, class, seed, strategy and sampling', async () => {
    const images = await call(studio, 'history:list', {})
    const baseline = images.find((i) => i.strategyKind === 'baseline')
    const search = images.find((i) => i.strategyKind === 'var-scaling')
    if (!baseline || !search) throw new Error('the jobs made no images')
    const bytes = await readFile(resolve(studio.outputDir(), baseline.file))
    const info = await call(studio, 'png:info', { source: content('made.png', bytes) })
    expect(info.from).toBe('var-studio')
    expect(info.width).toBe(baseline.width)
    expect(info.parameters).toBe(baseline.parameters)
    expect(info.load).toEqual({
      modelId: MODEL_ID,
      classId: 7,
      seed: 4_000_000_123,
      strategy: baseline.strategy,
      sampling: baseline.sampling,
    })
    expect(info.fields.find((f) => f.key === 'Seed')?.value).toBe('4000000123')
    // the knobs of a search strategy come back whole
    const s = await call(studio, 'png:info', {
      source: content('s.png', await readFile(resolve(studio.outputDir(), search.file))),
    })
    expect(s.load?.strategy).toEqual(search.strategy)

    // the same PNG without its JSON chunk: the parameters text alone gives the same fields
    const textOnly = addTextChunks(await plainPng(), { parameters: baseline.parameters })
    const t = await call(studio, 'png:info', { source: content('text.png', textOnly) })
    expect(t.from).toBe('parameters')
    expect(t.load).toMatchObject({
      modelId: MODEL_ID,
      classId: 7,
      seed: 4_000_000_123,
      strategy: { kind: 'baseline' },
      sampling: { cfg: 2.5, top_k: 7, top_p: 0.9 },
    })
    const st = await call(studio, 'png:info', {
      source: content('t2.png', addTextChunks(await plainPng(), { parameters: search.parameters })),
    })
    expect(st.load?.strategy).toEqual(search.strategy)
  })

  it('reads an A1111 PNG: prompt, negative prompt and pairs; the prompt is matched to a class', async () => {
    const text =
      'a photo of a sneaker, studio light\nNegative prompt: blurry, "low quality"\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sd15, Lora hashes: "a: 1, b: 2"'
    const png = addTextChunks(await plainPng(), { parameters: text })
    const info = await call(studio, 'png:info', { source: content('a1111.png', png), modelId: MODEL_ID })
    expect(info.from).toBe('parameters')
    expect(info.fields.slice(0, 2)).toEqual([
      { key: 'Prompt', value: 'a photo of a sneaker, studio light' },
      { key: 'Negative prompt', value: 'blurry, "low quality"' },
    ])
    expect(info.fields.find((f) => f.key === 'Lora hashes')?.value).toBe('a: 1, b: 2')
    // Fashion-MNIST's class 7 is Sneaker; sd15 is not installed, so the form's model stays
    expect(info.load).toEqual({ classId: 7, seed: 1234, sampling: { cfg: 7 } })
    expect(info.notes.join('\n')).toMatch(/"sd15", which is not installed/)
    expect(info.notes.join('\n')).toMatch(/read as the class Sneaker/)
  })

  it('reads zTXt and iTXt text, and says when a PNG has no parameters', async () => {
    const base = await plainPng()
    const iend = base.length - 12
    const z = chunk(
      'zTXt',
      Buffer.concat([Buffer.from('parameters\0\0'), deflateSync('Coat\nSeed: 5, CFG scale: 2, Steps: 3')]),
    )
    const i = chunk('iTXt', Buffer.from('Comment\0\0\0\0\0naïve ✓', 'utf8'))
    const png = Buffer.concat([base.subarray(0, iend), z, i, base.subarray(iend)])
    const info = await call(studio, 'png:info', { source: content('z.png', png), modelId: MODEL_ID })
    expect(info.load).toEqual({ classId: 4, seed: 5, sampling: { cfg: 2 } })
    expect(info.texts).toEqual([{ keyword: 'Comment', text: 'naïve ✓' }])
    const none = await call(studio, 'png:info', { source: content('plain.png', base) })
    expect(none.from).toBe('none')
    expect(none.load).toBeUndefined()
    expect(none.notes.join(' ')).toMatch(/no generation parameters/)
  })

  it('refuses malformed and hostile files with a plain message', async () => {
    const good = await plainPng()
    const info = (bytes: Uint8Array, name = 'bad.png') =>
      call(studio, 'png:info', { source: content(name, bytes) })
    await expect(info(Buffer.from('hello, world'), 'notes.png')).rejects.toThrow(
      /notes\.png is not a PNG image/,
    )
    await expect(info(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2]), 'photo.png')).rejects.toThrow(
      /photo\.png is a JPEG image, not a PNG/,
    )
    // cut off in the middle of the image data
    await expect(info(good.subarray(0, good.length - 20))).rejects.toThrow(/cut off/)
    // a chunk that claims 4 GiB: refused before anything that size is allocated
    const huge = Buffer.from(good)
    huge.writeUInt32BE(0xffff_fff0, 33)
    await expect(info(huge)).rejects.toThrow(/claims 4294967280 bytes, more than the file has left/)
    // one flipped bit in the header
    const flipped = Buffer.from(good)
    flipped[20] ^= 1
    await expect(info(flipped)).rejects.toThrow(/IHDR chunk at byte 8 fails its checksum/)
    // a text bomb: zTXt that inflates past the cap is skipped with a note, the rest is read
    const iend = good.length - 12
    const bomb = chunk(
      'zTXt',
      Buffer.concat([Buffer.from('parameters\0\0'), deflateSync(Buffer.alloc(8 << 20, 65))]),
    )
    const bombed = await info(Buffer.concat([good.subarray(0, iend), bomb, good.subarray(iend)]))
    expect(bombed.notes.join(' ')).toMatch(
      /zTXt chunk at byte \d+ was skipped: its text inflates past 256 KiB/,
    )
    // not base64 at all
    await expect(
      call(studio, 'png:info', { source: { kind: 'content', name: 'x.png', base64: '***' } }),
    ).rejects.toThrow(/not valid base64/)
    // over the contract's cap
    await expect(
      call(studio, 'png:info', {
        source: { kind: 'content', name: 'x.png', base64: 'A'.repeat(22_400_004) },
      }),
    ).rejects.toThrow(/larger than 16 MiB/)
  })

  it('reads a path in Electron only', async () => {
    const file = join(home, 'p.png')
    await writeFile(
      file,
      addTextChunks(await plainPng(), { parameters: 'Bag\nSeed: 9, Steps: 6, CFG scale: 1' }),
    )
    const info = await call(studio, 'png:info', { source: { kind: 'path', path: file }, modelId: MODEL_ID })
    expect(info.load).toMatchObject({ classId: 8, seed: 9 })
    const web = await tempHome('png-info-web')
    try {
      webStudio = await openStudio(web.home, 'web')
      await expect(call(webStudio, 'png:info', { source: { kind: 'path', path: file } })).rejects.toThrow(
        /uploads only/,
      )
    } finally {
      await webStudio?.close()
      webStudio = undefined
      await web.cleanup()
    }
  })

  it('parses A1111 text as A1111 does: a last line of fewer than 3 pairs is prompt', () => {
    expect(parseParameters('a cat: cute\nSteps: 2')).toEqual({ prompt: 'a cat: cute\nSteps: 2', pairs: [] })
  })
})

describe('strategy names and order in exports', () => {
  it('lists Top-k only before VAR-Scaling, by name, in the grid CSV', async () => {
    const ids = (await call(studio, 'history:list', {})).map((e) => e.id)
    const g = await call(studio, 'export:grid', {
      rows: 'class',
      columns: 'strategy',
      imageIds: ids,
      scale: 1,
    })
    const csv = (await readFile(g.path.replace(/\.png$/, '.csv'), 'utf8')).trim().split('\n')
    const names = csv.slice(1).map((line) => line.split(',')[1])
    expect(names).toEqual(['Baseline', 'Top-k only', 'VAR-Scaling'])
    expect(STRATEGY_ORDER.indexOf('topk-only')).toBeLessThan(STRATEGY_ORDER.indexOf('var-scaling'))
  })
})
