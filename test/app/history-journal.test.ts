/**
 * The history index is append-only while the studio runs (src-main/app/history.ts): each batch of
 * images, and each deletion, is a line appended to history/index.journal, folded into index.json now
 * and then. These tests open the real History on a temporary output folder, with real files.
 */
import { existsSync } from 'node:fs'
import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Timeline } from '../../src-shared/ipc'
import { StudioEvents } from '../../src-main/app/events'
import { History, HISTORY_FORMAT, JOURNAL_NAME, type StoredEntry } from '../../src-main/app/history'
import { tempHome } from './studio-helpers'

let out: string
let cleanup: () => Promise<void>
let logs: string[]

beforeEach(async () => {
  let home: string
  ;({ home, cleanup } = await tempHome('journal'))
  out = join(home, 'out')
  logs = []
})
afterEach(async () => {
  await cleanup()
})

const indexPath = (): string => join(out, 'history', 'index.json')
const journalPath = (): string => join(out, 'history', JOURNAL_NAME)

function entry(id: string, seed = 1): StoredEntry {
  return {
    id,
    jobId: `job-${id.split('-')[0]}`,
    modelId: 'fashion-mnist-var-d4',
    classId: 3,
    className: 'Dress',
    seed,
    strategyKind: 'baseline',
    strategy: { kind: 'baseline' },
    sampling: { cfg: 1.5, top_k: 0, top_p: 0 },
    N: 1,
    provider: 'cpu',
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seed)).toISOString(),
    file: join('images', '2026-01-01', `${id}.png`),
    width: 28,
    height: 28,
    parameters: `Dress\nSeed: ${seed}`,
  }
}

const timeline = (id: string): Timeline => ({ imageId: id, scales: [] }) as unknown as Timeline

function open(compactAfter?: number): Promise<History> {
  return History.open(out, new StudioEvents(), (l) => logs.push(l), compactAfter ? { compactAfter } : {})
}

/** Writes the PNGs (a stand-in body: only their presence matters here), then records them. */
async function addImages(history: History, ids: string[], seed = 1): Promise<void> {
  for (const id of ids) await history.writeFile(join(out, entry(id).file), 'png')
  await history.add(ids.map((id) => ({ entry: entry(id, seed), timeline: timeline(id) })))
}

const ids = (history: History): string[] =>
  history
    .list({ limit: 10_000 })
    .map((e) => e.id)
    .sort()
const journalLines = async (): Promise<string[]> =>
  existsSync(journalPath()) ? (await readFile(journalPath(), 'utf8')).split('\n').filter(Boolean) : []

describe('append-only history index', () => {
  it('appends a line per batch instead of rewriting index.json, and reads it back after a crash', async () => {
    const history = await open()
    await addImages(history, ['a-1', 'a-2'])
    await addImages(history, ['b-1'])
    expect(existsSync(indexPath())).toBe(false)
    const lines = await journalLines()
    expect(lines).toHaveLength(2)
    expect((JSON.parse(lines[0]) as { add: StoredEntry[] }).add.map((e) => e.id)).toEqual(['a-1', 'a-2'])
    // no flush, no close: what a kill leaves
    const again = await open()
    expect(ids(again)).toEqual(['a-1', 'a-2', 'b-1'])
    expect(logs).toEqual([])
    // opening folds the journal into index.json
    expect(existsSync(journalPath())).toBe(false)
    const index = JSON.parse(await readFile(indexPath(), 'utf8')) as { format: string; images: StoredEntry[] }
    expect(index.format).toBe(HISTORY_FORMAT)
    expect(index.images.map((e) => e.id)).toEqual(['a-1', 'a-2', 'b-1'])
  })

  it('ignores a last line cut short by a crash, with a log line, and loses none of its images', async () => {
    const history = await open()
    await addImages(history, ['a-1', 'a-2'])
    // the next batch: PNGs and timeline files written, then the crash halfway through its line
    for (const id of ['b-1', 'b-2']) {
      await history.writeFile(join(out, entry(id).file), 'png')
      await history.writeFile(
        join(history.timelinesDir, `${id}.json`),
        JSON.stringify({ format: 'var-studio-timeline/1', entry: entry(id), timeline: timeline(id) }),
      )
    }
    const line = JSON.stringify({ add: [entry('b-1'), entry('b-2')] })
    await appendFile(journalPath(), line.slice(0, Math.floor(line.length / 2)))

    const again = await open()
    expect(ids(again)).toEqual(['a-1', 'a-2', 'b-1', 'b-2'])
    expect(logs.join('\n')).toMatch(
      /index\.journal: its last line \(\d+ bytes\) was cut short .* was ignored/,
    )
    expect(logs.join('\n')).toMatch(/2 image\(s\) written before VAR Studio stopped were added/)
    expect(existsSync(join(out, 'orphans'))).toBe(false)
    // and the next start has nothing to say
    logs.length = 0
    expect(ids(await open())).toEqual(['a-1', 'a-2', 'b-1', 'b-2'])
    expect(logs).toEqual([])
  })

  it('folds the journal into index.json once it holds as many changes as the threshold', async () => {
    const history = await open(6)
    await addImages(history, ['a-1', 'a-2'])
    await addImages(history, ['b-1', 'b-2'])
    expect(existsSync(indexPath())).toBe(false)
    expect(await journalLines()).toHaveLength(2)
    await addImages(history, ['c-1', 'c-2'])
    // 6 changes: index.json written with all six, the journal gone
    expect(existsSync(journalPath())).toBe(false)
    const index = JSON.parse(await readFile(indexPath(), 'utf8')) as { images: StoredEntry[] }
    expect(index.images.map((e) => e.id)).toEqual(['a-1', 'a-2', 'b-1', 'b-2', 'c-1', 'c-2'])
    const written = (await stat(indexPath())).mtimeMs
    // below the record count (6) the next changes only append
    await addImages(history, ['d-1'])
    await history.delete('a-1')
    expect(await journalLines()).toHaveLength(2)
    expect((await stat(indexPath())).mtimeMs).toBe(written)
    expect(ids(await open())).toEqual(['a-2', 'b-1', 'b-2', 'c-1', 'c-2', 'd-1'])
  })

  it('survives a crash between the new index.json and the removal of the journal', async () => {
    const history = await open()
    await addImages(history, ['a-1', 'a-2'])
    await history.delete('a-1')
    await addImages(history, ['a-1'], 7)
    const journal = await readFile(journalPath(), 'utf8')
    await history.flush()
    expect(existsSync(journalPath())).toBe(false)
    // put the journal back, as if the removal had not happened: replaying it changes nothing
    await writeFile(journalPath(), journal)
    const again = await open()
    expect(again.list({ limit: 10 }).map((e) => [e.id, e.seed])).toEqual([
      ['a-1', 7],
      ['a-2', 1],
    ])
  })

  it('journals deletions: a deleted image stays deleted after a crash and after compaction', async () => {
    const history = await open()
    await addImages(history, ['a-1', 'a-2', 'a-3'])
    await history.flush()
    await history.delete('a-2')
    expect(JSON.parse((await journalLines())[0])).toEqual({ remove: ['a-2'] })
    expect(existsSync(join(out, entry('a-2').file))).toBe(false)
    expect(existsSync(join(out, 'history', 'timelines', 'a-2.json'))).toBe(false)
    // crash: index.json still lists a-2, the journal says it went
    const again = await open()
    expect(ids(again)).toEqual(['a-1', 'a-3'])
    const index = JSON.parse(await readFile(indexPath(), 'utf8')) as { images: StoredEntry[] }
    expect(index.images.map((e) => e.id)).toEqual(['a-1', 'a-3'])
    expect(ids(await open())).toEqual(['a-1', 'a-3'])
  })

  it('reads an index.json written before the journal, and keeps it while appending', async () => {
    await mkdir(join(out, 'history', 'timelines'), { recursive: true })
    const old = ['o-1', 'o-2'].map((id, i) => entry(id, i + 1))
    for (const e of old) {
      await mkdir(join(out, 'images', '2026-01-01'), { recursive: true })
      await writeFile(join(out, e.file), 'png')
      await writeFile(
        join(out, 'history', 'timelines', `${e.id}.json`),
        JSON.stringify({ format: 'var-studio-timeline/1', entry: e, timeline: timeline(e.id) }),
      )
    }
    // the earlier format: pretty-printed, every record in one file, no journal
    const before = `${JSON.stringify({ format: HISTORY_FORMAT, images: old }, null, 1)}\n`
    await writeFile(indexPath(), before)
    const history = await open()
    expect(ids(history)).toEqual(['o-1', 'o-2'])
    expect(await readFile(indexPath(), 'utf8')).toBe(before)
    await addImages(history, ['n-1'])
    expect(await readFile(indexPath(), 'utf8')).toBe(before)
    expect(ids(await open())).toEqual(['n-1', 'o-1', 'o-2'])
    expect(logs).toEqual([])
  })

  it('moves a damaged journal aside and rebuilds the history from the timeline files', async () => {
    const history = await open()
    await addImages(history, ['a-1'])
    await addImages(history, ['a-2'])
    const lines = await journalLines()
    await writeFile(journalPath(), `${lines[0]}\n{"add": 12}\n${lines[1]}\n`)
    const again = await open()
    expect(ids(again)).toEqual(['a-1', 'a-2'])
    expect(logs.join('\n')).toMatch(
      /index\.journal was damaged: line 2 is not a journal line; it was kept as .*corrupt-/,
    )
    expect(
      (await readdir(join(out, 'history'))).filter((n) => n.startsWith(`${JOURNAL_NAME}.corrupt-`)),
    ).toHaveLength(1)
  })
})
