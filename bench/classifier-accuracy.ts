/**
 * Test accuracy of a model's classifier.onnx on the 10 000 Fashion-MNIST test images, through the
 * shipped runner (`openModel(...).runner.classify`, cpu), with per-class accuracy and the most
 * confused pairs. Not part of `npm run bench` (no timing); the README's figure is its output:
 *
 *   npx tsx bench/classifier-accuracy.ts [model-folder] [--data DIR]
 *
 * DIR holds t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (default: Debian's
 * dataset-fashion-mnist, /usr/share/datasets/fashion-mnist).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { openModel } from '../src-main/host/ort/model'
import { readManifest } from '../src-main/storage/model-folder'
import { parseIdxImages, toUnitFloats } from '../src-shared/metrics/idx'

const root = join(import.meta.dirname, '..')

async function main(argv: string[]): Promise<void> {
  const dataAt = argv.indexOf('--data')
  const data = dataAt >= 0 ? argv[dataAt + 1] : '/usr/share/datasets/fashion-mnist'
  const positional = argv.filter((a, i) => !a.startsWith('--') && (dataAt < 0 || i !== dataAt + 1))
  const dir = positional[0] ?? join(root, 'models', 'fashion-mnist-var')
  const gz = async (name: string): Promise<Uint8Array> => gunzipSync(await readFile(join(data, name)))
  const images = parseIdxImages(await gz('t10k-images-idx3-ubyte.gz'), 't10k images')
  const labelBytes = await gz('t10k-labels-idx1-ubyte.gz')
  const view = new DataView(labelBytes.buffer, labelBytes.byteOffset, labelBytes.byteLength)
  if (view.getUint32(0, false) !== 0x00000801 || view.getUint32(4, false) !== images.count) {
    throw new Error('t10k labels: not an idx1-ubyte file with one label per test image')
  }
  const labels = labelBytes.subarray(8, 8 + images.count)

  const manifest = await readManifest(dir)
  const model = await openModel(
    dir,
    manifest,
    { provider: 'cpu', fallback: false },
    { ladder: ['cpu'], log: () => undefined },
  )
  const runner = model.runner
  if (!runner.classify) throw new Error(`${dir}: the model has no classifier graph`)
  const classify = runner.classify.bind(runner)
  const K = manifest.num_classes
  const px = images.rows * images.cols
  const pixels = toUnitFloats(images.pixels)
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0))
  const B = 500
  for (let start = 0; start < images.count; start += B) {
    const n = Math.min(B, images.count - start)
    const { logits } = await classify(pixels.slice(start * px, (start + n) * px), n)
    for (let i = 0; i < n; i++) {
      let best = 0
      for (let c = 1; c < K; c++) if (logits[i * K + c] > logits[i * K + best]) best = c
      confusion[labels[start + i]][best]++
    }
  }
  await model.release()

  const correct = confusion.reduce((s, row, c) => s + row[c], 0)
  console.log(
    `model ${manifest.id} (${dir}), classifier ${manifest.graphs.classifier?.file ?? 'classifier.onnx'}`,
  )
  console.log(`test images ${images.count} (${data}), provider cpu`)
  console.log(`accuracy ${((100 * correct) / images.count).toFixed(2)} % (${correct} of ${images.count})`)
  const name = (c: number): string => manifest.class_names[c] ?? `class ${c}`
  for (let c = 0; c < K; c++) {
    const total = confusion[c].reduce((s, x) => s + x, 0)
    console.log(`  ${name(c).padEnd(14)} ${((100 * confusion[c][c]) / total).toFixed(1)} %`)
  }
  const pairs: [number, number, number][] = []
  for (let a = 0; a < K; a++)
    for (let b = a + 1; b < K; b++) pairs.push([a, b, confusion[a][b] + confusion[b][a]])
  pairs.sort((x, y) => y[2] - x[2])
  console.log('most confused pairs (both directions):')
  for (const [a, b, n] of pairs.slice(0, 3)) console.log(`  ${name(a)} / ${name(b)}: ${n}`)
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
})
