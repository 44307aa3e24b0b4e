/* eslint-disable @typescript-eslint/no-unsafe-assignment -- expect's asymmetric matchers are typed any */
import { randomBytes } from 'node:crypto'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readBatchFile } from '../../src-main/cli/batch'
import { SEED_MAX } from '../../src-shared/engine/rng'
import type { Studio } from '../../src-main/app/studio'
import { encodePng } from '../../src-main/storage/png'
import { validManifest } from '../fixtures/manifest'
import { call, MODEL_ID, openStudio, STUDIO_HOOK_MS, tempHome } from './studio-helpers'

const NAMES = validManifest().class_names
let cleanup: () => Promise<void>
let studio: Studio

beforeAll(async () => {
  const t = await tempHome('batch')
  cleanup = t.cleanup
  studio = await openStudio(t.home)
  await call(studio, 'queue:pause', { paused: true })
}, STUDIO_HOOK_MS)
afterAll(async () => {
  await studio.close()
  await cleanup()
})

const content = (name: string, data: string | Uint8Array) => ({
  kind: 'content' as const,
  name,
  base64: Buffer.from(data).toString('base64'),
})
const parse = (name: string, data: string | Uint8Array) =>
  call(studio, 'batch:parse', { source: content(name, data), modelId: MODEL_ID })

describe('batch files', () => {
  it('reads prompts, names and ids, and reports how each row was matched', async () => {
    const t = await parse(
      'b.csv',
      'prompt,seed,strategy,count\na photo of a sneaker,3,,2\nankle boots,,baseline,\n9,,topk-only,\nT shirt,4,,\n',
    )
    expect(t).toMatchObject({ format: 'csv', valid: 4, invalid: 0 })
    expect(t.rows.map((r) => [r.line, r.classId, r.seed, r.count, r.strategy])).toEqual([
      [2, 7, 3, 2, undefined],
      [3, 9, undefined, 1, 'baseline'],
      [4, 9, undefined, 1, 'topk-only'],
      [5, 0, 4, 1, undefined],
    ])
    expect((t.rows[0] as { match?: string }).match).toBe('the word "Sneaker"')
    const txt = await parse('list.txt', '# classes\nBag\n\nsneekers\nzebra\n')
    expect(txt.rows.map((r) => [r.line, r.ok, r.className])).toEqual([
      [2, true, 'Bag'],
      [4, true, 'Sneaker'],
      [5, false, undefined],
    ])
  })

  it('marks each bad row with its reason', async () => {
    const t = await parse(
      'bad.csv',
      'class,seed,size,strategy\nBag,1,,\nSanddle,2,,\nCoat,-4,,\nCoat,1,big,\nDress,1,,greedy\n',
    )
    const errors = t.rows.map((r) => r.error ?? '')
    expect(t).toMatchObject({ valid: 1, invalid: 4 })
    expect(errors[1]).toMatch(/unknown class "Sanddle"\. Did you mean "Sandal"\?/)
    expect(errors[2]).toMatch(/seed "-4" must be an integer/)
    expect(errors[3]).toMatch(/unknown column "size"/)
    expect(errors[4]).toMatch(/unknown strategy "greedy"/)
    const json = await parse(
      'rows.json',
      '[{"class": "Bag", "seed": 1.5}, {"class": 99}, {"prompt": "a shirt and a coat"}]',
    )
    expect(json.rows.map((r) => r.error)).toEqual([
      expect.stringMatching(/seed "1.5"/),
      expect.stringMatching(/class id 99 is out of range/),
      expect.stringMatching(/names several classes \(Coat, Shirt\)/),
    ])
  })

  it('refuses whole files that are not batch files, saying why', async () => {
    const fileError = async (name: string, data: string | Uint8Array) =>
      (await parse(name, data)).fileError ?? ''
    expect(await fileError('latin1.csv', Buffer.from('class\nCaf\xe9\n', 'latin1'))).toMatch(
      /is not UTF-8 text/,
    )
    expect(await fileError('junk.csv', randomBytes(10 * 1024 * 1024))).toMatch(
      /binary|not UTF-8|image|archive/,
    )
    const png = await encodePng({ data: new Uint8Array(16), width: 4, height: 4, channels: 1 })
    expect(await fileError('photo.csv', png)).toMatch(/is a PNG image, not a batch file/)
    const bomb = [
      'a: &a [x,x,x,x,x,x,x,x,x]',
      ...'bcdefgh'.split('').map((c, i) => `${c}: &${c} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(',')}]`),
      'items: [*h]',
    ].join('\n')
    expect(await fileError('bomb.yaml', bomb)).toMatch(/Excessive alias count/)
    expect(await fileError('map.json', '{"class": "Bag"}')).toMatch(/not a list of rows/)
    expect(await fileError('empty.csv', 'class\n')).toMatch(/has no rows/)
    expect(await fileError('big.yaml', `- ${'x'.repeat(5 * 1024 * 1024)}`)).toMatch(/limited to 4 MiB/)
    await expect(
      call(studio, 'batch:parse', { source: { kind: 'path', path: '/etc/passwd' }, modelId: MODEL_ID }),
    ).resolves.toMatchObject({
      fileError: expect.stringMatching(/uploads only/),
    })
  }, 60_000)

  it('queues only the valid rows, with every seed decided before the run', async () => {
    const source = content('mixed.csv', 'class,seed,count\nBag,,2\nnope,,\nCoat,100,2\nDress,,1\n')
    const defaults = {
      modelId: MODEL_ID,
      strategy: { kind: 'baseline' as const },
      seedPolicy: 'increment' as const,
      baseSeed: 10,
    }
    const r = await call(studio, 'batch:queue', { source, defaults })
    expect(r.table).toMatchObject({ valid: 3, invalid: 1 })
    expect(r.seeds).toEqual([10, 11, 100, 101, 14])
    const jobs = (await call(studio, 'queue:get', {})).jobs.filter((j) => r.jobIds.includes(j.id))
    expect(jobs.flatMap((j) => j.seeds)).toEqual(r.seeds)
    expect(jobs.flatMap((j) => j.classIds)).toEqual([8, 8, 4, 4, 3])
    expect(jobs[0]).toMatchObject({
      seedPolicy: 'increment',
      source: { kind: 'batch', file: 'mixed.csv', line: 2 },
    })
    const fixed = await call(studio, 'batch:queue', {
      source: content('f.txt', 'Bag\nCoat\n'),
      defaults: { ...defaults, seedPolicy: 'fixed' },
    })
    expect(fixed.seeds).toEqual([10, 10])
    await expect(
      call(studio, 'batch:queue', { source: content('x.csv', 'class\nzebra\n'), defaults }),
    ).rejects.toThrow(/Nothing was queued: none of the 1 rows/)
    await expect(
      call(studio, 'batch:queue', {
        source: content('x.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 1])),
        defaults,
      }),
    ).rejects.toThrow(/Nothing was queued: x.png is a PNG image/)
  })

  it('means the same in the CLI: one validator for both', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'var-batch-cli-'))
    const text =
      'prompt,seed,strategy,count\na photo of a sneaker,3,,2\nankle boots,,baseline,\n9,,topk-only,\n'
    await writeFile(join(dir, 'same.csv'), text)
    const studioRows = (await parse('same.csv', text)).rows
    expect((await readBatchFile(join(dir, 'same.csv'), NAMES)).rows).toEqual(studioRows)
    await writeFile(join(dir, 'l.txt'), 'Bag\n3\n')
    expect((await readBatchFile(join(dir, 'l.txt'), NAMES)).rows.map((r) => [r.line, r.classId])).toEqual([
      [1, 8],
      [2, 3],
    ])
  })

  it('marks a row whose seeds would run past the largest seed', async () => {
    const t = await parse('top.csv', `class,seed,count\nBag,${SEED_MAX},1\nCoat,${SEED_MAX},2\n`)
    expect(t.rows.map((r) => r.error)).toEqual([
      undefined,
      `seed ${SEED_MAX} with count 2 runs past the largest seed ${SEED_MAX}`,
    ])
  })
})
