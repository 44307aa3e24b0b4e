/**
 * GPU check of a `var-onnx/1` folder (run by hand on a machine with a GPU, not by `npm run bench`):
 *
 *   npx tsx bench/gpu-check.ts <model-folder> [providers=webgpu,cuda] [--batch 1,8]
 *
 * For every provider it opens the model with that provider alone (no fallback), generates the same
 * images as cpu (teacher-forced on cpu's token maps, so both see identical inputs) and reports the
 * largest logit and image differences against cpu, then the per-image time of a free-running
 * generation with guidance at each batch size. Prints one JSON line at the end.
 */
import { openModel, type OpenedModel } from '../src-main/host/ort/model'
import { readCodebook, readManifest } from '../src-main/storage/model-folder'
import { generate, type GenerateRequest } from '../src-shared/engine/loop'
import type { ProviderName } from '../src-shared/protocol'

const [dir, providerArg = 'webgpu,cuda', ...rest] = process.argv.slice(2)
if (!dir) {
  console.error('usage: tsx bench/gpu-check.ts <model-folder> [providers] [--batch 1,8]')
  process.exit(2)
}
const batchAt = rest.indexOf('--batch')
const batches = batchAt >= 0 ? rest[batchAt + 1].split(',').map(Number) : [1, 8]
const REPS = 3

const manifest = await readManifest(dir)
const codebook = await readCodebook(dir, manifest)
const sampling = { ...manifest.sampling_defaults }
const request = (B: number, seed: number, forcedIds?: readonly Int32Array[]): GenerateRequest => ({
  classes: Array.from({ length: B }, (_, b) => (b * 97 + 207) % manifest.num_classes),
  seeds: Array.from({ length: B }, (_, b) => seed + b),
  sampling,
  strategy: { kind: 'baseline' },
  ...(forcedIds ? { forcedIds } : {}),
})

async function open(provider: ProviderName): Promise<OpenedModel | string> {
  const t0 = performance.now()
  try {
    const model = await openModel(
      dir,
      manifest,
      { provider, fallback: false },
      { ladder: [provider], log: () => undefined },
    )
    console.log(`${provider}: opened in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    return model
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

/** Logits of every scale and the final images of one teacher-forced (or free) run. */
async function capture(model: OpenedModel, req: GenerateRequest) {
  const logits: Float32Array[] = []
  const result = await generate(model.runner, manifest, codebook, req, {
    onStep: (o) => logits.push(o.logits.slice()),
  })
  return { logits, result }
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]))
  return m
}

async function timing(model: OpenedModel, B: number) {
  await generate(model.runner, manifest, codebook, request(B, 1)) // warm-up
  const runs = []
  for (let r = 0; r < REPS; r++)
    runs.push((await generate(model.runner, manifest, codebook, request(B, 100 + r))).timings)
  runs.sort((x, y) => x.totalMs - y.totalMs)
  const mid = runs[runs.length >> 1]
  return {
    B,
    msPerImage: +(mid.totalMs / B).toFixed(2),
    ortShare: +(mid.modelMs / mid.totalMs).toFixed(3),
    jsShare: +(mid.jsMs / mid.totalMs).toFixed(3),
  }
}

const report: Record<string, unknown> = { model: manifest.id, depth: manifest.depth, cfg: sampling.cfg }
const cpu = await open('cpu')
if (typeof cpu === 'string') throw new Error(`cpu did not open: ${cpu}`)
const reference = await capture(cpu, request(1, 7))
const forced = reference.result.records[0].tokenMaps
report.cpu = { timings: [await timing(cpu, 1)] }
await cpu.release()

for (const provider of providerArg.split(',') as ProviderName[]) {
  const model = await open(provider)
  if (typeof model === 'string') {
    report[provider] = { error: model }
    console.log(`${provider}: ${model}`)
    continue
  }
  try {
    const mine = await capture(model, request(1, 7, forced))
    const logitDiff = Math.max(...mine.logits.map((l, i) => maxAbs(l, reference.logits[i])))
    const imageDiff = maxAbs(mine.result.images, reference.result.images)
    const free = await generate(model.runner, manifest, codebook, request(1, 7))
    const sameTokens = free.records[0].tokenMaps.every((t, i) => t.every((v, j) => v === forced[i][j]))
    const timings = []
    for (const B of batches) timings.push(await timing(model, B))
    report[provider] = {
      ran: model.provider.provider,
      maxAbsLogitsVsCpu: logitDiff,
      maxAbsImageVsCpu: imageDiff,
      freeRunSameTokensAsCpu: sameTokens,
      timings,
    }
    console.log(provider, JSON.stringify(report[provider]))
  } catch (error) {
    report[provider] = { error: error instanceof Error ? error.message : String(error) }
  } finally {
    await model.release()
  }
}
console.log(JSON.stringify(report))
