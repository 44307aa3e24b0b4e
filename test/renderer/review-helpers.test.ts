import { describe, expect, it } from 'vitest'
import type { JobProgressView, JobView, SelectionView } from '../../src-shared/ipc'
import { oneLine, summariseAttempts } from '../../src-renderer/src/lib/attempts'
import { keptNote } from '../../src-renderer/src/lib/kept-note'
import {
  laterProgress,
  progressAhead,
  progressText,
  withScaleProgress,
  withShownProgress,
} from '../../src-renderer/src/lib/progress'
import { scaleMaps, scaleName, searchScalesHint } from '../../src-renderer/src/lib/scales'

const at = (
  si: number,
  batch = 0,
  generation = 0,
  extra: Partial<JobProgressView> = {},
): JobProgressView => ({
  si,
  S: 6,
  batch,
  batches: 3,
  generation,
  generations: 2,
  done: 0,
  ...extra,
})

const job = (state: JobView['state'], progress?: JobProgressView, images = 0): JobView => ({
  id: 'j1',
  state,
  modelId: 'm',
  label: 'job',
  strategyKind: 'var-scaling',
  count: images,
  classIds: [],
  seeds: [],
  seedPolicy: 'fixed',
  createdAt: '2026-01-01T00:00:00Z',
  imageIds: Array.from({ length: images }, (_, i) => `img${i}`),
  ...(progress ? { progress } : {}),
})

describe('progress ordering', () => {
  it('orders by generation, then batch, then scale', () => {
    expect(progressAhead(at(4), at(3))).toBe(true)
    expect(progressAhead(at(3), at(4))).toBe(false)
    expect(progressAhead(at(0, 1), at(5, 0))).toBe(true)
    expect(progressAhead(at(5, 2, 0), at(0, 0, 1))).toBe(false)
    expect(progressAhead(at(0, 0, 1), at(5, 2, 0))).toBe(true)
    expect(progressAhead(at(3), undefined)).toBe(true)
    // The same position again is no step forward.
    expect(progressAhead(at(3), at(3))).toBe(false)
    expect(laterProgress(at(5), at(2))).toEqual(at(5))
    expect(laterProgress(at(2), at(5))).toEqual(at(5))
    expect(laterProgress(at(2), undefined)).toEqual(at(2))
  })

  it('a late job:scale never puts a running job back, and a finished job keeps its final state', () => {
    // queue:changed said scale 6 of 6; the job:scale for scales 4, 5, 6 then arrive.
    const shown = job('running', at(5))
    for (const si of [3, 4, 5]) expect(withScaleProgress(shown, at(si))).toBe(shown)
    expect(withScaleProgress(job('running', at(2)), at(3)).progress).toEqual(at(3))
    const done = job('done', at(5, 2, 1), 4)
    expect(withScaleProgress(done, at(0, 0, 0))).toBe(done)
  })

  it('a snapshot keeps the later progress, and a finished job the last one it had', () => {
    expect(withShownProgress(job('running', at(2)), at(4)).progress).toEqual(at(4))
    expect(withShownProgress(job('running', at(4)), at(2)).progress).toEqual(at(4))
    // The host drops progress when the job ends; the row keeps what it showed.
    expect(withShownProgress(job('done', undefined, 48), at(5, 2, 1)).progress).toEqual(at(5, 2, 1))
    expect(withShownProgress(job('cancelled'), at(2)).progress).toEqual(at(2))
    // Put back in the queue (the host closing mid-run): it starts over.
    expect(withShownProgress(job('queued'), at(2)).progress).toBeUndefined()
  })
})

describe('progress text', () => {
  const one = { si: 5, S: 6, batch: 0, batches: 1, generation: 0, generations: 1, done: 48 }
  it('says what a finished job did', () => {
    expect(progressText(job('done', one, 48))).toBe('done · 6 of 6 scales · 48 images')
    expect(progressText(job('done', at(5, 2, 1), 1))).toBe(
      'done · 6 of 6 scales · 3 batches · 2 generations · 1 image',
    )
    // Never saw its progress (the page opened later): the model's scale count stands in.
    expect(progressText(job('done', undefined, 4), 6)).toBe('done · 6 of 6 scales · 4 images')
    expect(progressText(job('done', undefined, 4))).toBe('done · 4 images')
    expect(progressText(job('cancelled', { ...one, si: 2 }))).toBe('cancelled at scale 3 of 6')
    expect(progressText(job('cancelled'))).toBe('')
  })
  it('says where a running job is', () => {
    expect(progressText(job('running', { ...one, si: 2 }))).toBe('scale 3 of 6')
    expect(progressText(job('running'))).toBe('starting…')
    expect(progressText(job('queued'))).toBe('')
  })
})

describe('scale names', () => {
  it('names a scale by its map and 0-based index', () => {
    expect(scaleName(1, 2, 6)).toBe('2×2 · index 1 of 0–5')
    expect(scaleName(1, 2)).toBe('2×2 · index 1')
    expect(scaleMaps([1, 2, 3, 4, 5, 7])).toBe('maps 1×1, 2×2, 3×3, 4×4, 5×5, 7×7 (6 scales, index 0–5)')
    expect(scaleMaps([1, 2, 3, 4, 5, 6, 8, 10, 13, 16])).toBe(
      'maps 1×1, 2×2, …, 16×16 (10 scales, index 0–9)',
    )
    expect(searchScalesHint([1], [1, 2, 3, 4, 5, 7])).toBe('index 1 = the 2×2 map')
    expect(searchScalesHint([0, 9], [1, 2, 3])).toBe(
      'index 0 = the 1×1 map, index 9: no such scale (this model has 0–2)',
    )
  })
})

describe('kept note', () => {
  const sel = (order: number[], kept: number[], branch: SelectionView['branch'] = 'top-k') => ({
    N: order.length,
    order,
    kept,
    branch,
  })
  const strategy = { kind: 'var-scaling', k: 3, dedup: 1.8 }

  it('explains fewer than k kept: the whole order was scanned, the rest were near-duplicates', () => {
    const note = keptNote(sel([4, 0, 1, 2, 3, 5, 6, 7], [4]), strategy)
    expect(note?.kind).toBe('short')
    expect(note?.skipped).toEqual([0, 1, 2, 3, 5, 6, 7])
    expect(note?.text).toBe(
      'Kept 1 of k = 3: the scan by descending density went through all 8 candidates and skipped 7 as ' +
        'near-duplicates (distance to a candidate already kept below the dedup distance 1.8, or 0).',
    )
    const random = keptNote(sel([2, 0, 1], [2, 1], 'random-k'), { ...strategy, dedup: 0 })
    expect(random?.text).toMatch(/^Kept 2 of k = 3: the scan in a random order went through all 3 candidates/)
    expect(random?.text).toContain('skipped 1 as identical to a candidate already kept')
  })

  it('with k kept, counts only the candidates skipped before the k-th', () => {
    const note = keptNote(sel([5, 1, 0, 2, 3, 4], [5, 0, 2]), strategy)
    expect(note).toMatchObject({ kind: 'info', skipped: [1] })
    expect(keptNote(sel([5, 1, 0, 2, 3, 4], [5, 1, 0]), strategy)).toBeUndefined()
  })

  it('says nothing it cannot work out from the record', () => {
    expect(keptNote(sel([0, 1, 2], [0]), { kind: 'baseline' })).toBeUndefined()
    expect(keptNote({ N: 4, order: [0, 1, 2], kept: [0], branch: 'top-k' }, strategy)).toBeUndefined()
    expect(keptNote(sel([0, 1, 2], [7]), strategy)).toBeUndefined()
  })
})

describe('provider attempts', () => {
  const cuda = { provider: 'cuda', ok: false, reason: 'Failed to load shared library\nlibcudart.so.12' }
  const webgpu = { provider: 'webgpu', ok: false, reason: 'x'.repeat(300) }
  const cpu = { provider: 'cpu', ok: true }
  const run = { jobId: 'j', provider: 'cpu', requested: 'auto', timings: {} }

  it('the auto ladder skipping to CPU is not alarming', () => {
    const s = summariseAttempts({ ...run, attempts: [cuda, webgpu, cpu] }, 40)
    expect(s.ran).toBe('cpu')
    expect(s.alarming).toBe(false)
    expect(s.skipped.map((a) => [a.provider, a.line, a.cut])).toEqual([
      ['cuda', 'Failed to load shared library', true],
      ['webgpu', `${'x'.repeat(39)}…`, true],
    ])
    expect(s.skipped[0].reason).toBe(cuda.reason)
  })

  it('a named provider that fell back, or nothing running, is', () => {
    const fell = summariseAttempts({
      ...run,
      requested: 'cuda',
      fallbackNote: 'cuda failed',
      attempts: [cuda, cpu],
    })
    expect(fell).toMatchObject({ ran: 'cpu', alarming: true })
    const none = summariseAttempts({ ...run, attempts: [cuda, { ...webgpu, reason: undefined }] })
    expect(none.ran).toBeUndefined()
    expect(none.alarming).toBe(true)
    expect(none.skipped.map((a) => a.line)).toEqual(['Failed to load shared library', 'no reason given'])
    expect(oneLine('short')).toEqual({ line: 'short', cut: false })
  })
})
