/** The Density view's plain words for a search that did nothing, and the form's model presets. */
import { describe, expect, it } from 'vitest'
import { degeneracyNote } from '../../src-renderer/src/lib/kept-note'
import { modelConfigs, PAPER_KNOBS, withSearchDefaults } from '../../src-renderer/src/lib/strategy'

const sel = { N: 50, kept: [7], ratio: 1.54, alpha: 2.3, distanceMax: 1.445 }
const paper = { kind: 'var-scaling', k: 10, dedup: 1.8, alpha: 2.3 }
const calibrated = { alpha: 1.599, dedup: 0.599, from: 'calibrated' as const, ratioMax: 1.92 }

describe('degeneracy notes', () => {
  it('says a search that kept one candidate and an alpha no row reaches, with the calibrated values', () => {
    const note = degeneracyNote(sel, paper, calibrated)
    expect(note).toContain(
      "The search kept 1 of 50 candidates: dedup 1.8 is larger than any distance between this image's candidates (largest 1.445), so the search was plain sampling.",
    )
    expect(note).toContain('α 2.3 is above every max/mean density of this model')
    expect(note).toContain("This model's calibrated values: α 1.599, dedup 0.599")
  })

  it('asks for a calibration when the model has none, and says nothing when the search searched', () => {
    expect(degeneracyNote(sel, paper, { alpha: 2.3, dedup: 1.8, from: 'paper' })).toMatch(
      /Calibrate the model \(Models › Calibrate\)/,
    )
    const working = { ...sel, kept: [1, 2, 3, 4, 5, 6, 7, 8, 9], alpha: 1.599 }
    expect(degeneracyNote(working, { ...paper, dedup: 0.599, alpha: 1.599 }, calibrated)).toBeUndefined()
  })
})

describe('model presets in the form', () => {
  it("fills the search kinds with the model's values and keeps the paper's one click away", () => {
    const configs = modelConfigs({ alpha: 1.6, dedup: 0.6, searchScales: [2] })
    expect(configs['var-scaling']).toMatchObject({ alpha: 1.6, dedup: 0.6, searchScales: [2], N: 50 })
    expect(configs['topk-only']).toMatchObject({ dedup: 0.6 })
    expect(configs.baseline).toEqual({ kind: 'baseline' })
    expect(withSearchDefaults(configs['var-scaling'], PAPER_KNOBS)).toMatchObject({ alpha: 2.3, dedup: 1.8 })
  })
})
