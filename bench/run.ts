/**
 * Benchmark runner: imports every `bench/*.bench.ts`, each exporting a default async function that
 * prints its own timings. Nothing is measured until such files exist.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const dir = import.meta.dirname
const files = (await readdir(dir)).filter((f) => f.endsWith('.bench.ts')).sort()

if (files.length === 0) {
  console.log('No benchmarks yet: add bench/<name>.bench.ts exporting a default async function.')
} else {
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default?: () => Promise<void> }
    if (typeof mod.default !== 'function') throw new Error(`${file} has no default export to run`)
    console.log(`# ${file}`)
    await mod.default()
  }
}
