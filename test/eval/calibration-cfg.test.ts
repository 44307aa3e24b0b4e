/**
 * The calibrated search defaults follow the request: the measured row at the request's search scale
 * and nearest calibrated cfg, with the line that says which row and why.
 */
import { describe, expect, it } from 'vitest'
import {
  defaultsOfCalibration,
  searchDefaultsAtCfg,
  type CalibrationRecord,
} from '../../src-shared/engine/calibration'
import { loadCalibration, searchDefaultsFor } from '../../src-main/storage/calibration-file'
import { MODEL_DIR } from '../host/model'

async function shipped(): Promise<CalibrationRecord> {
  const { record } = await loadCalibration(MODEL_DIR)
  if (!record) throw new Error('the embedded model ships calibrated')
  return record
}

const rowOf = (r: CalibrationRecord, si: number, cfg: number) => {
  const m = r.measurements.find((x) => x.si === si && x.cfg === cfg)
  if (!m) throw new Error(`no row at scale ${si}, cfg ${cfg}`)
  return m
}

describe('calibrated defaults per cfg and search scale', () => {
  it("take the row of the request's cfg, else the nearest calibrated cfg, and say so", async () => {
    const r = await shipped()
    const cfg1 = rowOf(r, 1, 1)
    const cfg3 = rowOf(r, 1, 3)
    expect(cfg1.alpha).not.toBe(cfg3.alpha)

    const none = defaultsOfCalibration(r)
    expect(none).toMatchObject({ alpha: r.defaults.alpha, dedup: r.defaults.dedup })
    expect(none.calibratedAt).toEqual({ si: 1, cfg: 3 })

    const at1 = defaultsOfCalibration(r, { cfg: 1 })
    expect(at1).toMatchObject({ alpha: cfg1.alpha, dedup: cfg1.dedup, topkShare: cfg1.topkShare })
    expect(at1.calibratedAt).toEqual({ si: 1, cfg: 1 })
    expect(at1.source).toMatch(/scale 1, cfg 1, N 50\): alpha 1\.6346 sends 35 % of rows to Top-k/)
    expect(at1.source).not.toMatch(/nearest/)

    const at05 = defaultsOfCalibration(r, { cfg: 0.5 })
    expect(at05).toMatchObject({ alpha: cfg1.alpha, dedup: cfg1.dedup, requestCfg: 0.5 })
    expect(at05.source).toMatch(
      /cfg 0\.5 asked: the nearest calibrated cfg, 1, applies \(calibrated at scale 1: cfg 3, 1;/,
    )
    expect(defaultsOfCalibration(r, { cfg: 5 })).toMatchObject({ alpha: cfg3.alpha, dedup: cfg3.dedup })
    // equally near both: the record's first cfg (its default)
    expect(defaultsOfCalibration(r, { cfg: 2 }).calibratedAt).toEqual({ si: 1, cfg: 3 })
  })

  it("take the row of the request's search scale, and say when it is not calibrated", async () => {
    const r = await shipped()
    const s2 = rowOf(r, 2, 1)
    const d = defaultsOfCalibration(r, { cfg: 1, searchScale: 2 })
    expect(d).toMatchObject({ alpha: s2.alpha, dedup: s2.dedup, calibratedAt: { si: 2, cfg: 1 } })
    const s4 = defaultsOfCalibration(r, { cfg: 3, searchScale: 4 })
    expect(s4).toMatchObject({ alpha: rowOf(r, 1, 3).alpha, calibratedAt: { si: 1, cfg: 3 } })
    expect(s4.source).toMatch(
      /search scale 4 is not calibrated \(calibrated: 1, 2\): the values of scale 1 apply/,
    )
  })

  it("follow the Generate form's cfg from the model list's entry", async () => {
    const r = await shipped()
    const entry = (await loadCalibration(MODEL_DIR)).defaults
    expect(entry.byCfg?.map((d) => d.calibratedAt?.cfg)).toEqual([3, 1])
    expect(searchDefaultsAtCfg(entry, 3)).toMatchObject({ alpha: rowOf(r, 1, 3).alpha })
    expect(searchDefaultsAtCfg(entry, 1)).toMatchObject({ alpha: rowOf(r, 1, 1).alpha })
    const near = searchDefaultsAtCfg(entry, 0)
    expect(near).toMatchObject({ alpha: rowOf(r, 1, 1).alpha, requestCfg: 0 })
    expect(near.source).toMatch(/cfg 0 asked: the nearest calibrated cfg, 1, applies/)
  })

  it("leave a model without calibration on the paper's constants", () => {
    const paper = searchDefaultsFor(
      { defaults: { alpha: 2.3, dedup: 1.8, searchScales: [1], from: 'paper', source: 'x' } },
      { cfg: 1 },
    )
    expect(paper).toMatchObject({ alpha: 2.3, from: 'paper' })
  })
})
