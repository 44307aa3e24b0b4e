/** Batch files that cannot be used say why in words about the file, each naming it. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkBatchRows } from '../../src-main/app/batch'
import { decodeBatch, MAX_ROWS, parseBatchText } from '../../src-main/app/batch-file'
import { lockHome } from '../../src-main/app/home-lock'
import { readBatchFile } from '../../src-main/cli/batch'
import { FASHION_CLASSES } from '../fixtures/manifest'

const NAMES = [...FASHION_CLASSES]

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'var-batch-msg-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const rows = (text: string, name: string) => parseBatchText(decodeBatch(Buffer.from(text), name), name)

describe('batch file messages', () => {
  it('names the row of a JSON or YAML list whose rows share a line', async () => {
    const path = join(dir, 'one-line.json')
    await writeFile(path, '[{"class":"Trouser"},{"class":"Dragon"},{"class":"Bag","seed":-4}]')
    const error = await readBatchFile(path, NAMES).then(
      () => undefined,
      (e: unknown) => e as Error,
    )
    expect(error?.message.split('\n')).toEqual([
      expect.stringMatching(/^one-line\.json row 2 \(line 1\): unknown class "Dragon"/),
      expect.stringMatching(/^one-line\.json row 3 \(line 1\): seed "-4" must be an integer/),
    ])
    // rows on lines of their own are named by their line, as CSV rows are
    const yaml = rows('- class: Bag\n- {class: Coat}\n', 'list.yaml')
    expect(yaml.map((r) => [r.row, r.line])).toEqual([
      [undefined, 1],
      [undefined, 2],
    ])
    const flow = rows('[{"class": "Bag"},\n {"class": "Coat"}, {"class": "Dress"}]', 'two-lines.json')
    expect(flow.map((r) => [r.row, r.line])).toEqual([
      [undefined, 1],
      [2, 2],
      [3, 2],
    ])
    expect(checkBatchRows('two-lines.json', flow, NAMES).map((r) => r.row)).toEqual([undefined, 2, 3])
  })

  it('says that a one-line CSV has no header instead of "no rows"', () => {
    expect(() => rows('Trouser,5\n', 'plain.csv')).toThrow(
      /^plain\.csv has no header row: its only line "trouser,5" names none of the columns \(class or prompt/,
    )
    // a header alone still says the file has no rows
    expect(() => checkBatchRows('head.csv', rows('class,seed\n', 'head.csv'), NAMES)).toThrow(
      /head\.csv has no rows/,
    )
  })

  it('names UTF-16 and UTF-32 instead of calling them binary', () => {
    const text = 'class,seed\nTrouser,1\n'
    const le16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])
    const be16 = Buffer.from(le16).swap16()
    const bare16 = Buffer.from(text, 'utf16le')
    const le32 = Buffer.alloc(text.length * 4)
    for (let i = 0; i < text.length; i++) le32.writeUInt32LE(text.charCodeAt(i), i * 4)
    const be32 = Buffer.from(le32).swap32()
    const bom32 = Buffer.concat([Buffer.from([0xff, 0xfe, 0, 0]), le32])
    expect(() => decodeBatch(le16, 'a.csv')).toThrow(
      /^a\.csv is UTF-16 \(little-endian\) text; save it as UTF-8/,
    )
    expect(() => decodeBatch(be16, 'a.csv')).toThrow(/is UTF-16 \(big-endian\) text/)
    expect(() => decodeBatch(bare16, 'a.csv')).toThrow(/is UTF-16 \(little-endian\) text/)
    expect(() => decodeBatch(le32, 'a.csv')).toThrow(/is UTF-32 \(little-endian\) text/)
    expect(() => decodeBatch(be32, 'a.csv')).toThrow(/is UTF-32 \(big-endian\) text/)
    expect(() => decodeBatch(bom32, 'a.csv')).toThrow(/is UTF-32 \(little-endian\) text/)
    // real binary still says so
    expect(() => decodeBatch(Buffer.from([1, 2, 0, 0, 7, 0, 9, 9, 0, 0, 1]), 'b.csv')).toThrow(
      /b\.csv is a binary file/,
    )
  })

  it('answers a broken JSON file with the JSON parser, not the YAML one', () => {
    expect(() => rows('[{"class": "Trouser"}, {"class": "Ba', 'cut.json')).toThrow(
      /^cut\.json is not valid JSON: (Unterminated string|Unexpected end)/,
    )
    expect(() => rows('[{"class": "Trouser"}, {"class": "Ba', 'cut.json')).not.toThrow(
      /YAML|flow|Missing closing/,
    )
  })

  it('refuses deep nesting in words, not with a stack overflow', () => {
    const json = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
    expect(() => rows(json, 'deep.json')).toThrow(
      /^deep\.json is nested 100000 levels deep; a batch file is a list of flat rows/,
    )
    const yaml = `- ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`
    expect(() => rows(yaml, 'deep.yaml')).toThrow(/^deep\.yaml is nested 20000 levels deep/)
    const block = Array.from({ length: 200 }, (_, i) => `${'  '.repeat(i)}- `).join('\n')
    expect(() => rows(block, 'block.yaml')).toThrow(/^block\.yaml is nested \d+ levels deep/)
    expect(() => rows('- - - - - x\n', 'dash.yaml')).not.toThrow()
  })

  it('says a YAML file holds several documents, without the library hint', () => {
    const thrown = (() => {
      try {
        rows('- class: Bag\n---\n- class: Coat\n', 'two.yaml')
        return ''
      } catch (e) {
        return (e as Error).message
      }
    })()
    expect(thrown).toBe(
      'two.yaml holds several YAML documents (a second one starts at line 2, after "---"); put every row in one list',
    )
    expect(thrown).not.toMatch(/parseAllDocuments/)
  })

  it('refuses a header that names a column twice', () => {
    expect(() => rows('class,class,seed\nTrouser,Bag,1\n', 'dup.csv')).toThrow(
      'dup.csv: the header names the column "class" twice (columns 1 and 2); name each column once',
    )
  })

  it('names the file that has too many rows', () => {
    const csv = `class\n${'Bag\n'.repeat(MAX_ROWS + 1)}`
    expect(() => rows(csv, 'big.csv')).toThrow(`big.csv has more than ${MAX_ROWS} rows; split the file`)
    expect(() => rows('Bag\n'.repeat(MAX_ROWS + 1), 'big.txt')).toThrow(
      `big.txt has more than ${MAX_ROWS} rows`,
    )
  })

  it('takes over a lock that names pid 1, 0 or -1', async () => {
    for (const pid of [1, 0, -1]) {
      await writeFile(join(dir, 'studio.lock'), JSON.stringify({ pid }))
      const release = await lockHome(dir)
      await release()
    }
  })
})
