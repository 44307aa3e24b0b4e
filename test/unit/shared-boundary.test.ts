/**
 * src-shared runs in every process, so its tsconfig has no DOM and no Node types. This compiles
 * small probe files with that exact config: pure code must pass, `process`, `window` and
 * `node:fs` must each fail.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const run = promisify(execFile)
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const sharedConfig = resolve(import.meta.dirname, '../../src-shared/tsconfig.json')
let dir: string

async function compile(source: string): Promise<{ code: number; output: string }> {
  await writeFile(join(dir, 'probe.ts'), source)
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({ extends: sharedConfig, files: ['probe.ts'], include: [] }),
  )
  try {
    const { stdout } = await run(process.execPath, [tsc, '-p', dir, '--pretty', 'false'])
    return { code: 0, output: stdout }
  } catch (error) {
    const e = error as { code: number; stdout: string }
    return { code: e.code, output: e.stdout }
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'shared-probe-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('src-shared compiler boundary', () => {
  it('compiles pure code', async () => {
    const result = await compile('export const twice = (x: number): number => x * 2\n')
    expect(result).toEqual({ code: 0, output: '' })
  })

  it('rejects Node globals, DOM globals and Node modules', async () => {
    const result = await compile(
      [
        'export const a = process.env',
        'export const b = window.location',
        "import { readFileSync } from 'node:fs'",
        'export const c = readFileSync',
      ].join('\n'),
    )
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/probe\.ts\(1,\d+\): error TS\d+: Cannot find name 'process'/)
    expect(result.output).toMatch(/probe\.ts\(2,\d+\): error TS\d+: Cannot find name 'window'/)
    expect(result.output).toMatch(/probe\.ts\(3,\d+\): error TS\d+: Cannot find (module|name) 'node:fs'/)
  })
})
