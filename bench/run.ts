/**
 * Benchmark runner: imports every `bench/*.bench.ts`, each exporting a default async function that
 * prints its own timings. Arguments pick files by name: `npm run bench -- d16 kde`.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const dir = import.meta.dirname
const picks = process.argv.slice(2)
const all = (await readdir(dir)).filter((f) => f.endsWith('.bench.ts')).sort()
const files = picks.length === 0 ? all : all.filter((f) => picks.some((p) => f.includes(p)))

if (files.length === 0) {
  console.log(
    picks.length === 0
      ? 'No benchmarks yet: add bench/<name>.bench.ts exporting a default async function.'
      : `No benchmark matches ${picks.join(', ')}; there are ${all.join(', ')}`,
  )
  process.exitCode = picks.length === 0 ? 0 : 2
} else {
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default?: () => Promise<void> }
    if (typeof mod.default !== 'function') throw new Error(`${file} has no default export to run`)
    console.log(`# ${file}`)
    await mod.default()
  }
}
