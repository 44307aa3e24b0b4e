import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidRequestError } from '../../src-shared/errors'
import type { VarManifest } from '../../src-shared/manifest'
import { matchNotes, readBatchFile } from '../../src-main/cli/batch'
import { levenshtein, nearestNames, resolveClass } from '../../src-main/cli/classes'
import { deviceFromFlags, samplingFromFlags, strategyFromFlags } from '../../src-main/cli/knobs'
import { main } from '../../src-main/cli/main'
import { HEARTBEAT_MS, ProgressBar, SPARSE_MS } from '../../src-main/cli/progress'
import { flagsIn, nearest, unknownCommandMessage } from '../../src-main/cli/suggest'
import { GENERATE_HELP } from '../../src-main/cli/generate'
import { HostClient } from '../../src-main/host/client'
import { ADVANCE, drawText, GLYPH_H, GLYPH_W, textWidth } from '../../src-main/storage/bitmap-font'
import { composeGrid, wrapText } from '../../src-main/storage/grid'
import { hasText } from '../helpers/grid-text'
import { readManifest } from '../../src-main/storage/model-folder'
import { asciiJson, encodePng, readTextChunks, toRaw } from '../../src-main/storage/png'
import { copyModel, MODEL_DIR } from './model'
import { captureIo } from '../helpers/io'
import { validManifest } from '../fixtures/manifest'

let manifest: VarManifest
let tmp: string
beforeAll(async () => {
  manifest = await readManifest(MODEL_DIR)
  tmp = await mkdtemp(join(tmpdir(), 'var-cli-'))
})
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true })
})

function failure(f: () => unknown): InvalidRequestError {
  try {
    f()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError)
    return error as InvalidRequestError
  }
  throw new Error('accepted')
}

const NAMES = validManifest().class_names

describe('class references', () => {
  it('measures edit distance', () => {
    expect(levenshtein('kitten', 'sitting')).toBe(3)
    expect(levenshtein('', 'abc')).toBe(3)
    expect(levenshtein('same', 'same')).toBe(0)
  })

  it('takes ids and names in any case or punctuation', () => {
    expect(resolveClass('3', NAMES)).toBe(3)
    expect(resolveClass(9, NAMES)).toBe(9)
    expect(resolveClass('ankle BOOT', NAMES)).toBe(9)
    expect(resolveClass('tshirt top', NAMES)).toBe(0)
  })

  it('suggests the nearest names for an unknown one', () => {
    expect(nearestNames('trowser', NAMES)).toEqual(['Trouser'])
    expect(nearestNames('sneakers', NAMES)).toEqual(['Sneaker'])
    expect(nearestNames('shirt', NAMES)[0]).toBe('Shirt')
    const e = failure(() => resolveClass('Sandel', NAMES, '--class'))
    expect(e.field).toBe('--class')
    expect(e.message).toMatch(/^--class: unknown class "Sandel"\. Did you mean "Sandal"\?/)
    expect(failure(() => resolveClass('zebra', NAMES)).message).not.toContain('Did you mean')
    expect(failure(() => resolveClass('10', NAMES)).message).toBe(
      'class: class id 10 is out of range; must be in [0, 9]',
    )
  })
})

describe('generate knobs', () => {
  it('builds the strategy and sampling configs from flags', () => {
    const s = strategyFromFlags(
      { strategy: 'var-scaling', N: '20', k: '5', 'search-scales': '1,2', kernel: 'exactMatch' },
      manifest,
    )
    expect(s).toMatchObject({ kind: 'var-scaling', N: 20, k: 5, searchScales: [1, 2], kernel: 'exactMatch' })
    expect(strategyFromFlags({}, manifest).kind).toBe('var-scaling')
    expect(samplingFromFlags({ cfg: '1.5' }, manifest)).toEqual({ ...manifest.sampling_defaults, cfg: 1.5 })
    // the official sampler's "off" values and its smoothing switch
    expect(samplingFromFlags({ 'top-p': '0', 'top-k': '0', 'more-smooth': true }, manifest)).toEqual({
      ...manifest.sampling_defaults,
      top_k: 0,
      top_p: 0,
      more_smooth: true,
    })
  })

  it('--preset fills the official settings on an official-size vocabulary; flags beside it win', () => {
    const official = { ...manifest, vocab_size: 4096 }
    expect(samplingFromFlags({ preset: 'fid' }, official)).toEqual({
      cfg: 1.5,
      top_k: 900,
      top_p: 0.96,
      more_smooth: false,
    })
    expect(samplingFromFlags({ preset: 'demo' }, official)).toEqual({
      cfg: 4,
      top_k: 900,
      top_p: 0.95,
      more_smooth: true,
    })
    expect(samplingFromFlags({ preset: 'demo', cfg: '2', 'top-p': '0' }, official)).toMatchObject({
      cfg: 2,
      top_p: 0,
      more_smooth: true,
    })
    expect(deviceFromFlags({ device: 'cuda', 'device-id': '1', fallback: true })).toEqual({
      provider: 'cuda',
      deviceId: 1,
      fallback: true,
    })
  })

  const S = () => manifest.patch_nums.length
  const cases: [string, () => unknown, string, RegExp][] = [
    ['N < 1', () => strategyFromFlags({ N: '0' }, manifest), '--N', /--N: must be an integer >= 1 \(got 0\)/],
    [
      'k > N',
      () => strategyFromFlags({ N: '5', k: '6' }, manifest),
      '--k',
      /--k: must be an integer in \[1, N\] = \[1, 5\]/,
    ],
    [
      'alpha <= 0',
      () => strategyFromFlags({ alpha: '0' }, manifest),
      '--alpha',
      /--alpha: must be a number > 0/,
    ],
    [
      'scale beyond the schedule',
      () => strategyFromFlags({ 'search-scales': String(S()) }, manifest),
      '--search-scales',
      /must be a scale index in \[0, \d+\]/,
    ],
    [
      'knob of another strategy',
      () => strategyFromFlags({ strategy: 'baseline', k: '3' }, manifest),
      '--k',
      /does not apply to --strategy baseline/,
    ],
    [
      'unknown strategy',
      () => strategyFromFlags({ strategy: 'magic' }, manifest),
      '--strategy',
      /--strategy: must be 'baseline'/,
    ],
    [
      'not a number',
      () => strategyFromFlags({ N: 'lots' }, manifest),
      '--N',
      /--N: must be an integer, got "lots"/,
    ],
    [
      'top_p outside [0, 1]',
      () => samplingFromFlags({ 'top-p': '1.5' }, manifest),
      '--top-p',
      /--top-p: must be a number in \[0, 1\] \(0 and 1 turn it off\) \(got 1.5\)/,
    ],
    [
      'negative cfg',
      () => samplingFromFlags({ cfg: '-1' }, manifest),
      '--cfg',
      /--cfg: must be a number >= 0/,
    ],
    [
      'top_k beyond the vocabulary',
      () => samplingFromFlags({ 'top-k': '100000' }, manifest),
      '--top-k',
      /must be an integer in \[0, \d+\]/,
    ],
    [
      'unknown device',
      () => deviceFromFlags({ device: 'tpu' }),
      '--device',
      /--device: must be one of auto, cuda/,
    ],
    ['device id', () => deviceFromFlags({ 'device-id': '99' }), '--device-id', /\[0, 63\]/],
    [
      'an unknown preset',
      () => samplingFromFlags({ preset: 'best' }, manifest),
      '--preset',
      /--preset: must be one of fid, demo, got "best"/,
    ],
    [
      'a preset on a small vocabulary',
      () => samplingFromFlags({ preset: 'demo' }, manifest),
      '--preset',
      /--preset: the demo preset is for official VAR exports: its top-k 900 exceeds this model's vocabulary of \d+/,
    ],
  ]
  it.each(cases)('rejects %s naming the flag and range', (_label, f, field, message) => {
    const e = failure(f)
    expect(e.field).toBe(field)
    expect(e.message).toMatch(message)
  })
})

describe('batch files', () => {
  const rowsOf = async (name: string, text: string) => {
    await writeFile(join(tmp, name), text)
    return (await readBatchFile(join(tmp, name), NAMES)).rows.map((r) => [
      r.line,
      r.classId,
      r.seed,
      r.count,
      r.strategy,
    ])
  }

  it('reads CSV, YAML, JSON and TXT rows as the studio does', async () => {
    expect(await rowsOf('b.csv', 'class,seed,count\nTrouser,3,2\n\n4,,\n')).toEqual([
      [2, 1, 3, 2, undefined],
      [4, 4, undefined, 1, undefined],
    ])
    expect(
      await rowsOf(
        'b.yaml',
        'items:\n  - class: Bag\n    seed: 1\n  - { class: 2, count: 3, strategy: baseline }\n',
      ),
    ).toEqual([
      [2, 8, 1, 1, undefined],
      [4, 2, undefined, 3, 'baseline'],
    ])
    expect(await rowsOf('b.json', '[\n {"prompt": "a warm coat"},\n {"class": 1, "seed": 9}\n]')).toEqual([
      [2, 4, undefined, 1, undefined],
      [3, 1, 9, 1, undefined],
    ])
    expect(await rowsOf('b.txt', '# shoes\nsneakers\n9\n')).toEqual([
      [2, 7, undefined, 1, undefined],
      [3, 9, undefined, 1, undefined],
    ])
  })

  it('says how every class that is not an id or exact name was read', async () => {
    await writeFile(
      join(tmp, 'notes.csv'),
      'prompt,strategy\na photo of a sneaker,topk-only\nBag,\n3,\nsandel,\n',
    )
    const batch = await readBatchFile(join(tmp, 'notes.csv'), NAMES)
    expect(matchNotes(batch)).toEqual([
      'notes.csv line 2: read as Sneaker (the word "Sneaker")',
      'notes.csv line 5: read as Sandal ("sandel" read as "Sandal" (1 edit))',
    ])
  })

  it('names the file and line of every bad row', async () => {
    const bad = async (name: string, text: string) => {
      await writeFile(join(tmp, name), text)
      return readBatchFile(join(tmp, name), NAMES).then(
        () => expect.fail('accepted'),
        (error: unknown) => error as Error,
      )
    }
    const seed = await bad('bad.csv', 'class,seed\nBag,1\nCoat,-4\n')
    expect(seed).toBeInstanceOf(InvalidRequestError)
    expect(seed).toMatchObject({ field: 'bad.csv:3' })
    expect(seed.message).toMatch(/^bad\.csv line 3: seed "-4" must be an integer in \[0, \d+\]$/)
    expect((await bad('bad2.csv', 'class,size\nBag,1\n')).message).toMatch(
      /^bad2\.csv line 2: unknown column "size"/,
    )
    expect((await bad('bad.yaml', '- class: Bag\n- class: Coat\n  count: 0\n')).message).toBe(
      'bad.yaml line 2: count "0" must be an integer in [1, 1000]',
    )
    const many = await bad('many.csv', 'class,strategy\nzebra,\nBag,greedy\nCoat,\n')
    expect(many.message.split('\n')).toEqual([
      expect.stringMatching(/^many\.csv line 2: unknown class "zebra"/),
      expect.stringMatching(/^many\.csv line 3: unknown strategy "greedy" \(did you mean/),
    ])
    expect((await bad('broken.yaml', '- class: [\n')).message).toMatch(/^broken\.yaml line \d+: /)
    expect((await bad('empty.csv', 'class\n')).message).toBe('empty.csv has no rows')
    expect((await bad('blank.txt', '\n# nothing\n')).message).toBe('blank.txt has no rows')
    expect((await bad('none.csv', '')).message).toBe('none.csv has no rows')
    expect((await bad('huge.csv', `class,count\n${'Bag,1000\n'.repeat(11)}`)).message).toBe(
      'huge.csv asks for 11000 images; at most 10000 per batch',
    )
    await expect(readBatchFile(join(tmp, 'missing.csv'), NAMES)).rejects.toThrow(
      /cannot read .*missing\.csv: it does not exist/,
    )
  })
})

describe('PNG output', () => {
  it('encodes grayscale and RGB from [0, 1] floats and keeps text chunks exact', async () => {
    const gray = toRaw(Float32Array.from([0, 0.5, 1, 2, -1, Number.NaN]), 1, 2, 3)
    expect(Array.from(gray.data)).toEqual([0, 128, 255, 255, 0, 0])
    const json = { className: 'Café ☕', seed: 2 ** 40, cfg: 1.5 }
    const png = await encodePng(gray, { parameters: 'Café\nSteps: 6, Seed: 1', json })
    const meta = await sharp(png).metadata()
    expect([meta.width, meta.height, meta.channels]).toEqual([3, 2, 1])
    const chunks = readTextChunks(png)
    expect(chunks.parameters).toBe('Café\nSteps: 6, Seed: 1')
    expect(JSON.parse(chunks['var-studio'] ?? '')).toEqual(json)
    expect(asciiJson('☕')).toBe('"\\u2615"')

    const rgb = toRaw(Float32Array.from([1, 0, 0, 1, 0, 0]), 3, 1, 2)
    expect(Array.from(rgb.data)).toEqual([255, 0, 0, 0, 255, 0])
    const rgbPng = await encodePng(rgb)
    expect((await sharp(rgbPng).metadata()).channels).toBe(3)
    expect(readTextChunks(rgbPng)).toEqual({})
  })

  it('has a complete 5x8 glyph for every character it draws', () => {
    const image = {
      data: new Uint8Array(ADVANCE * 95 * GLYPH_H),
      width: ADVANCE * 95,
      height: GLYPH_H,
      channels: 1,
    }
    const printable = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('')
    drawText(image, printable, 0, 0, { color: [255] })
    expect(image.data.some((v) => v === 255)).toBe(true)
    expect(textWidth('ab', 2)).toBe((2 * ADVANCE - 1) * 2)
    expect(GLYPH_W).toBe(5)
  })

  it('lays out a labelled grid', () => {
    const tile = toRaw(new Float32Array(28 * 28).fill(1), 1, 28, 28)
    const grid = composeGrid(
      Array.from({ length: 5 }, (_, i) => ({ image: tile, caption: [`Class ${i}`, `seed ${i}`] })),
      { title: 'title', columns: 3 },
    )
    expect(grid.channels).toBe(3)
    expect(grid.width).toBe(8 + 3 * (28 * 5 + 8))
    // Captions are dark ink on white, in full.
    expect(hasText(grid, 'Class 4')).toBe(true)
    expect(hasText(grid, 'seed 4')).toBe(true)
    expect(hasText(grid, 'title')).toBe(true)
  })

  it('draws row and column headers and full seeds in one readable size at every tile scale', () => {
    const tile = toRaw(new Float32Array(28 * 28).fill(0.5), 1, 28, 28)
    const seed = 'seed 4169123456'
    for (const scale of [1, 2, 4, 8]) {
      const grid = composeGrid(
        Array.from({ length: 4 }, () => ({ image: tile, caption: [seed] })),
        {
          columns: 2,
          scale,
          title: 'Class by Strategy | fashion-mnist-var-d4',
          rowHeaders: ['Sneaker', 'T-shirt/top'],
          columnHeaders: ['Baseline', 'VAR-Scaling'],
        },
      )
      for (const text of ['Sneaker', 'T-shirt/top', 'Baseline', 'VAR-Scaling', '4169123456'])
        expect(hasText(grid, text), `${text} at scale ${scale}`).toBe(true)
      // nothing is cut short, and the type does not shrink with the tiles
      expect(hasText(grid, '..')).toBe(false)
      expect(hasText(grid, 'Sneaker', 1)).toBe(false)
      // the headers sit left of and above the tiles
      expect(grid.width).toBeGreaterThanOrEqual(8 + textWidth('T-shirt/top', 2) + 8 + 2 * 28 * scale)
    }
    expect(wrapText(seed, 60)).toEqual(['seed', '41691', '23456'])
    expect(wrapText('a b c', 1000)).toEqual(['a b c'])

    // a long title wraps within the grid instead of running off it or being cut
    const title = `${'A very long title for a grid '.repeat(3)}end`
    const narrow = composeGrid([{ image: tile, caption: [] }], { scale: 4, title })
    const lines = wrapText(title, narrow.width - 16)
    expect(lines.length).toBeGreaterThan(1)
    expect(hasText(narrow, lines[0] ?? '')).toBe(true)
    expect(hasText(narrow, lines.at(-1) ?? '')).toBe(true)
  })
})

describe('progress bar', () => {
  it('prints sparingly off a terminal and redraws one line on it', () => {
    let clock = 0
    const lines: string[] = []
    const bar = new ProgressBar({ write: (t) => lines.push(t), isTTY: false }, 'hash', () => clock)
    // a quick bar (100 updates within a second) prints its last line only
    for (let i = 0; i <= 100; i++) {
      clock += 10
      bar.update(i, 100)
    }
    expect(lines).toEqual(['hash [########################] 100%\n'])
    bar.update(100, 100)
    expect(lines).toHaveLength(1)

    // a slow one: a line when another tenth is done and SPARSE_MS passed, never one per update
    clock = 0
    const slow: string[] = []
    const long = new ProgressBar({ write: (t) => slow.push(t), isTTY: false }, 'eval', () => clock)
    for (let i = 0; i <= 1000; i++) {
      clock = i * 100 // 100 s in all, 1000 updates
      long.update(i, 1000)
    }
    expect(slow.length).toBeGreaterThanOrEqual(100_000 / SPARSE_MS / 2)
    expect(slow.length).toBeLessThanOrEqual(11)
    expect(slow.at(-1)).toBe('eval [########################] 100%\n')
    // stuck within one tenth, it still says it is alive now and then
    clock = 0
    const stuck: string[] = []
    const wait = new ProgressBar({ write: (t) => stuck.push(t), isTTY: false }, 'load', () => clock)
    for (let t = 0; t <= 3 * HEARTBEAT_MS; t += 1000) {
      clock = t
      wait.update(1, 100, 'loading')
    }
    expect(stuck).toHaveLength(3)

    const tty: string[] = []
    const live = new ProgressBar({ write: (t) => tty.push(t), isTTY: true, columns: 60 }, 'gen')
    live.update(1, 2, 'half')
    live.update(2, 2)
    live.finish()
    expect(tty[0]?.startsWith('\rgen [############............]  50% half')).toBe(true)
    expect(tty.at(-1)).toBe('\n')
  })
})

describe('CLI manners', () => {
  const noHost = (): HostClient => {
    throw new Error('no host may start for a usage error')
  }
  const run = async (argv: string[]) => {
    const c = captureIo()
    const code = await main(argv, c.io, { progress: { write: () => undefined }, createClient: noHost })
    return { code, out: c.out.join('\n'), err: c.err.join('\n') }
  }

  it('suggests the nearest flag of the command for an unknown one', async () => {
    expect(flagsIn(GENERATE_HELP)).toEqual(expect.arrayContaining(['--class', '--seed', '--N', '--k']))
    expect(nearest('clas', ['class', 'count', 'cfg'])).toBe('class')
    expect(nearest('n', ['k', 'N', 'alpha'])).toBe('N')
    expect(nearest('zzzzzz', ['class', 'count'])).toBeUndefined()

    const clas = await run(['generate', '--clas', 'Coat'])
    expect(clas).toEqual({
      code: 2,
      out: '',
      err: 'Unknown option --clas. Did you mean --class? See: var-studio generate --help',
    })
    expect((await run(['generate', '--seeds=4'])).err).toContain('Did you mean --seed?')
    expect((await run(['serve', '--prot', '1'])).err).toContain('Did you mean --port?')
    expect((await run(['models', 'verify', '--rehsh'])).err).toContain('Did you mean --rehash?')
    const far = await run(['generate', '--frobnicate'])
    expect(far.code).toBe(2)
    expect(far.err).toBe('Unknown option --frobnicate. See: var-studio generate --help')
  })

  it('answers an unknown command with the nearest one and a short usage', async () => {
    const gen = await run(['gen'])
    expect(gen.code).toBe(2)
    expect(gen.err.split('\n')[0]).toBe('Unknown command: gen. Did you mean: var-studio generate?')
    expect(gen.err.split('\n').length).toBeLessThanOrEqual(4)
    expect(gen.out).toBe('')
    expect((await run(['evl'])).err).toContain('Did you mean: var-studio eval?')
    expect((await run(['models', 'lst'])).err).toContain('Did you mean: var-studio models list?')
    expect(unknownCommandMessage(['xyzzy']).split('\n')[0]).toBe('Unknown command: xyzzy.')
  })

  it('prints error messages without the error class name', async () => {
    const bad = await run(['generate', '--model', MODEL_DIR, '--class', 'Coat', '--N', 'many'])
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/^--N: /)
    expect(bad.err).not.toMatch(/[A-Z][a-z]+Error\b/)
  })
})

describe('var-studio CLI with the inference host', () => {
  const sink = { write: () => undefined, isTTY: false }
  const client = (): HostClient =>
    new HostClient({
      onLog: () => undefined,
      env: { ...process.env, VAR_STUDIO_HASH_CACHE: join(tmp, 'sha256.json') },
    })

  it('generates PNGs with embedded parameters, a grid and run.json', async () => {
    const out = join(tmp, 'run')
    const c = captureIo()
    const code = await main(
      [
        'generate',
        '--model',
        MODEL_DIR,
        '--class',
        'trouser,9',
        '--count',
        '2',
        '--seed',
        '5',
        '--strategy',
        'baseline',
        '--device',
        'cpu',
        '--out',
        out,
      ],
      c.io,
      { progress: sink, createClient: client },
    )
    expect(c.err.join('\n')).toContain('provider: cpu')
    expect(code).toBe(0)
    const files = (await readdir(out)).sort()
    expect(files).toEqual([
      '0000-trouser-s5.png',
      '0001-trouser-s6.png',
      '0002-ankle-boot-s7.png',
      '0003-ankle-boot-s8.png',
      'grid.png',
      'run.json',
    ])
    const chunks = readTextChunks(await readFile(join(out, '0002-ankle-boot-s7.png')))
    expect(chunks.parameters).toMatch(
      /^Ankle boot\nSteps: \d+, Sampler: VAR next-scale, CFG scale: [\d.]+, Seed: 7, Size: 28x28, /,
    )
    expect(JSON.parse(chunks['var-studio'] ?? '')).toMatchObject({
      classId: 9,
      seed: 7,
      strategy: { kind: 'baseline' },
    })
    const record = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as Record<string, unknown>
    expect(record).toMatchObject({
      format: 'var-studio-run/1',
      seedPolicy: 'increment',
      provider: { provider: 'cpu' },
    })
    expect((record.images as unknown[]).length).toBe(4)
    const grid = await sharp(join(out, 'grid.png')).metadata()
    expect(grid.width).toBeGreaterThan(2 * 28)
  }, 120_000)

  it('generates a batch file with prompts and per-row strategies in file order', async () => {
    const out = join(tmp, 'batch-run')
    const file = join(tmp, 'rows.csv')
    await writeFile(
      file,
      'prompt,seed,strategy,count\na photo of sneakers,5,,2\nankle boot,11,baseline,\na trouser,,var-scaling,\n',
    )
    const c = captureIo()
    const code = await main(
      [
        'generate',
        '--model',
        MODEL_DIR,
        '--batch',
        file,
        '--strategy',
        'var-scaling',
        '--N',
        '4',
        '--k',
        '2',
        '--seed',
        '100',
        '--device',
        'cpu',
        '--out',
        out,
      ],
      c.io,
      { progress: sink, createClient: client },
    )
    expect(c.err.join('\n')).toContain('rows.csv line 2: read as Sneaker (the word "Sneaker")')
    expect(c.err.join('\n')).toContain('rows.csv line 4: read as Trouser (the word "Trouser")')
    expect(code).toBe(0)
    // Rows without a seed follow --seed and the increment policy by position: line 4 is image 3.
    expect((await readdir(out)).sort()).toEqual([
      '0000-sneaker-s5.png',
      '0001-sneaker-s6.png',
      '0002-ankle-boot-s11.png',
      '0003-trouser-s103.png',
      'grid.png',
      'run.json',
    ])
    const meta = async (name: string) => readTextChunks(await readFile(join(out, name)))
    const boot = await meta('0002-ankle-boot-s11.png')
    expect(JSON.parse(boot['var-studio'] ?? '')).toMatchObject({
      classId: 9,
      seed: 11,
      strategy: { kind: 'baseline' },
    })
    expect(boot.parameters).toMatch(/Strategy: baseline, Provider/)
    // A row naming --strategy's kind runs with the flags' knobs; a row without one, too.
    for (const name of ['0000-sneaker-s5.png', '0003-trouser-s103.png']) {
      expect(JSON.parse((await meta(name))['var-studio'] ?? '')).toMatchObject({
        strategy: { kind: 'var-scaling', N: 4, k: 2 },
      })
    }
    const record = JSON.parse(await readFile(join(out, 'run.json'), 'utf8')) as {
      seedPolicy: string
      strategy: { kind: string }
      images: { classId: number; seed: number; strategy?: { kind: string } }[]
    }
    expect(record.seedPolicy).toBe('batch')
    expect(record.strategy).toMatchObject({ kind: 'var-scaling', N: 4 })
    expect(record.images.map((i) => [i.classId, i.seed, i.strategy?.kind])).toEqual([
      [7, 5, 'var-scaling'],
      [7, 6, 'var-scaling'],
      [9, 11, 'baseline'],
      [1, 103, 'var-scaling'],
    ])
  }, 120_000)

  it('stops at bad batch rows, naming file and line, before starting a host', async () => {
    const file = join(tmp, 'bad-rows.yaml')
    await writeFile(file, '- prompt: a bag\n- class: Coat\n  strategy: greedy\n- class: Dress\n  count: 0\n')
    const c = captureIo()
    let started = false
    const code = await main(['generate', '--model', MODEL_DIR, '--batch', file], c.io, {
      progress: sink,
      createClient: () => {
        started = true
        return new HostClient()
      },
    })
    expect(code).toBe(1)
    expect(c.err.join('\n')).toMatch(
      /^bad-rows\.yaml line 2: unknown strategy "greedy".*\nbad-rows\.yaml line 4: count "0" must be an integer in \[1, 1000\]$/,
    )
    expect(started).toBe(false)
  })

  it('stops at an unknown class name before starting a host', async () => {
    const c = captureIo()
    let started = false
    const code = await main(['generate', '--model', MODEL_DIR, '--class', 'Sneakr'], c.io, {
      progress: sink,
      createClient: () => {
        started = true
        return new HostClient()
      },
    })
    expect(code).toBe(1)
    expect(c.err.join('\n')).toContain('unknown class "Sneakr". Did you mean "Sneaker"?')
    expect(started).toBe(false)
  })

  it('verifies a model folder and names the damaged file', async () => {
    const copy = await copyModel()
    try {
      const ok = captureIo()
      expect(
        await main(['models', 'verify', copy.dir], ok.io, { progress: sink, createClient: client }),
      ).toBe(0)
      expect(ok.out.join('\n')).toContain('every graph matches the manifest')
      const cached = captureIo()
      expect(
        await main(['models', 'verify', copy.dir, '--no-graphs'], cached.io, {
          progress: sink,
          createClient: client,
        }),
      ).toBe(0)
      expect(cached.out.filter((l) => l.endsWith('(cached hash)'))).toHaveLength(
        Object.keys(manifest.files).length,
      )

      await truncate(join(copy.dir, manifest.graphs.vae_decode.file), 100)
      const bad = captureIo()
      expect(
        await main(['models', 'verify', copy.dir], bad.io, { progress: sink, createClient: client }),
      ).toBe(1)
      expect(bad.out.join('\n')).toMatch(
        new RegExp(`FAIL ${manifest.graphs.vae_decode.file}: 100 bytes, manifest says \\d+`),
      )
      expect(bad.out.join('\n')).toMatch(
        new RegExp(`FAIL ${manifest.graphs.vae_decode.file}: inputs and outputs disagree`),
      )
      expect(bad.err.join('\n')).toContain('verify failed')

      const list = captureIo()
      expect(await main(['models', 'list', '--models-dir', join(copy.dir, '..')], list.io)).toBe(0)
      expect(list.out.join('\n')).toContain(`${manifest.id}  `)
    } finally {
      await copy.cleanup()
    }
  }, 120_000)
})
