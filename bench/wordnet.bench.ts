/**
 * WordNet prompt matching's one-time cost (src-main/app/wordnet.ts): the first prompt that
 * needs WordNet reads index.noun and data.noun, indexes index.noun's lines and places the model's
 * classes (the 10 Fashion-MNIST classes); then ImageNet's 1000 classes (names from torchvision when
 * it is installed) are placed by a first prompt on them, and a next prompt is timed. Each of 3 runs is a fresh process, so the memory is what the first use adds.
 * `npm run bench -- wordnet`; the log is docs/wordnet/load.txt.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

interface Sample {
  firstPromptMs: number
  openMs: number
  bytes: number
  rssMB: number
  heapMB: number
  imagenetTreeMs?: number
  imagenetRssMB?: number
  imagenetPromptMs?: number
}

async function measure(): Promise<Sample> {
  const { wordnet } = await import('../src-main/app/wordnet')
  const { matchClasses } = await import('../src-main/app/class-match')
  const { FASHION_CLASSES } = await import('../test/fixtures/manifest')
  const mb = (n: number) => Math.round((n / 2 ** 20) * 10) / 10
  const names = imagenetNames()
  const before = process.memoryUsage()
  // the first prompt WordNet reads: opens the database and places the 10 classes
  let t = performance.now()
  matchClasses('a pair of boots', [...FASHION_CLASSES])
  const firstPromptMs = performance.now() - t
  const after = process.memoryUsage()
  const wn = wordnet()
  const sample: Sample = {
    firstPromptMs,
    openMs: wn.stats.loadMs,
    bytes: wn.stats.bytes,
    rssMB: mb(after.rss - before.rss),
    heapMB: mb(after.heapUsed - before.heapUsed),
  }
  if (!names) return sample
  // ImageNet's 1000 classes placed (a first prompt on an official export), then one more prompt
  t = performance.now()
  matchClasses('a photo of a puppy', names, 'spread')
  const imagenetTreeMs = performance.now() - t
  t = performance.now()
  matchClasses('a big cat', names, 'spread')
  const imagenetPromptMs = performance.now() - t
  return {
    ...sample,
    imagenetTreeMs,
    imagenetPromptMs,
    imagenetRssMB: mb(process.memoryUsage().rss - before.rss),
  }
}

function imagenetNames(): string[] | undefined {
  const script =
    'import json; from torchvision.models._meta import _IMAGENET_CATEGORIES as C; print(json.dumps(list(C)))'
  try {
    return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' })) as string[]
  } catch {
    return undefined
  }
}

export default function bench(): Promise<void> {
  const self = fileURLToPath(import.meta.url)
  const runs: Sample[] = []
  for (let i = 0; i < 3; i++) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', self], {
      encoding: 'utf8',
      env: { ...process.env, WORDNET_BENCH_CHILD: '1' },
    })
    runs.push(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Sample)
  }
  const f = (x: number | undefined, w: number) => (x === undefined ? '-' : x.toFixed(0)).padStart(w)
  console.log(
    'run  first prompt ms  of it open ms  MB read  rss +MB  heap +MB | imagenet first prompt ms  next prompt ms  rss +MB',
  )
  runs.forEach((r, i) => {
    console.log(
      `${i + 1}    ${f(r.firstPromptMs, 15)}  ${f(r.openMs, 13)}  ${(r.bytes / 1e6).toFixed(1).padStart(7)}  ` +
        `${String(r.rssMB).padStart(7)}  ${String(r.heapMB).padStart(8)} | ${f(r.imagenetTreeMs, 24)}  ` +
        `${f(r.imagenetPromptMs, 13)}  ${String(r.imagenetRssMB ?? '-').padStart(7)}`,
    )
  })
  return Promise.resolve()
}

if (process.env.WORDNET_BENCH_CHILD === '1') console.log(JSON.stringify(await measure()))
