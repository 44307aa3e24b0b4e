/**
 * Mutation check: breaks the shipped code on purpose, one mutant at a time, in a scratch copy of the
 * repository, runs the tests that should notice, and reports which test killed each mutant. Every
 * mutant must be killed; a survivor fails the run (exit 1).
 *
 *   npm run test:mutants                  every mutant
 *   npm run test:mutants -- --only a,b    the named ones
 *   npm run test:mutants -- --markdown    the table for the README
 *
 * The copy holds src-shared, src-main, test and the top-level configs of this working tree (so
 * uncommitted changes are checked too); node_modules and models are links. The unmutated copy runs
 * every listed test file first: a failing baseline would make every mutant look killed.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { MUTANTS, type Mutant } from './mutants'

const ROOT = resolve(import.meta.dirname, '../..')
const COPIED = ['src-shared', 'src-main', 'test']
const LINKED = ['node_modules', 'models']
const TOP_FILES = ['package.json', 'tsconfig.base.json', 'tsconfig.json', 'vitest.config.ts']

interface Outcome {
  mutant: Mutant
  killedBy?: string
  seconds: number
}

function makeCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'var-mutants-'))
  for (const d of COPIED) cpSync(join(ROOT, d), join(dir, d), { recursive: true })
  for (const d of LINKED) symlinkSync(join(ROOT, d), join(dir, d))
  for (const f of TOP_FILES) if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(dir, f))
  return dir
}

interface VitestJson {
  testResults: {
    name: string
    status: string
    message?: string
    assertionResults: { title: string; status: string }[]
  }[]
}

/** Runs vitest on `files` in `dir`; returns the first failing test ("file: title"), or undefined. */
function firstFailure(dir: string, files: readonly string[]): string | undefined {
  const report = join(dir, 'vitest-report.json')
  rmSync(report, { force: true })
  const vitest = join(dir, 'node_modules', 'vitest', 'vitest.mjs')
  const run = spawnSync(
    process.execPath,
    [vitest, 'run', ...files, '--bail=1', '--reporter=json', `--outputFile=${report}`],
    { cwd: dir, encoding: 'utf8', env: { ...process.env, CI: 'true' }, maxBuffer: 64 << 20 },
  )
  if (!existsSync(report)) {
    // vitest itself failed (a mutant that breaks loading, e.g.): that is a kill too
    const tail = `${run.stdout}\n${run.stderr}`.trim().split('\n').slice(-3).join(' ')
    return run.status === 0 ? undefined : `vitest did not run: ${tail}`
  }
  const json = JSON.parse(readFileSync(report, 'utf8')) as VitestJson
  for (const file of json.testResults) {
    const rel = file.name.startsWith(dir) ? file.name.slice(dir.length + 1) : file.name
    const failed = file.assertionResults.find((a) => a.status === 'failed')
    if (failed) return `${rel}: ${failed.title}`
    if (file.status === 'failed') return `${rel} (${(file.message ?? 'failed').split('\n')[0]})`
  }
  return run.status === 0 ? undefined : `vitest exited with ${run.status}`
}

function apply(dir: string, m: Mutant): () => void {
  const path = join(dir, m.file)
  const original = readFileSync(path, 'utf8')
  let text = original
  for (const [find, replace] of m.edits) {
    const count = text.split(find).length - 1
    if (count !== 1) {
      throw new Error(`mutant ${m.id}: ${JSON.stringify(find)} occurs ${count} times in ${m.file}, not once`)
    }
    text = text.replace(find, () => replace)
  }
  writeFileSync(path, text)
  return () => {
    writeFileSync(path, original)
  }
}

function table(outcomes: readonly Outcome[]): string {
  const rows = outcomes.map(
    (o) => `| \`${o.mutant.file}\`: ${o.mutant.what} | ${o.killedBy ?? '**survived**'} |`,
  )
  return ['| mutant | killed by |', '|---|---|', ...rows].join('\n')
}

function main(): number {
  const args = process.argv.slice(2)
  const onlyAt = args.indexOf('--only')
  const only = onlyAt >= 0 ? new Set((args[onlyAt + 1] ?? '').split(',')) : undefined
  const mutants = only ? MUTANTS.filter((m) => only.has(m.id)) : MUTANTS
  if (only && mutants.length !== only.size) {
    const known = new Set(MUTANTS.map((m) => m.id))
    throw new Error(`unknown mutants: ${[...only].filter((id) => !known.has(id)).join(', ')}`)
  }
  const dir = makeCopy()
  try {
    const files = [...new Set(mutants.flatMap((m) => m.tests))]
    const t0 = Date.now()
    const broken = firstFailure(dir, files)
    if (broken) {
      console.error(`the unmutated copy fails already: ${broken}`)
      return 2
    }
    console.log(`baseline: ${files.length} test files pass (${((Date.now() - t0) / 1000).toFixed(0)} s)`)
    const outcomes: Outcome[] = []
    for (const m of mutants) {
      const start = Date.now()
      const restore = apply(dir, m)
      let killedBy: string | undefined
      try {
        killedBy = firstFailure(dir, m.tests)
      } finally {
        restore()
      }
      const seconds = (Date.now() - start) / 1000
      outcomes.push({ mutant: m, killedBy, seconds })
      console.log(
        `${killedBy ? 'killed  ' : 'SURVIVED'} ${m.id} (${seconds.toFixed(0)} s)${killedBy ? `: ${killedBy}` : ''}`,
      )
    }
    if (args.includes('--markdown')) console.log(`\n${table(outcomes)}`)
    const survivors = outcomes.filter((o) => !o.killedBy)
    console.log(`\n${outcomes.length - survivors.length} of ${outcomes.length} mutants killed`)
    return survivors.length === 0 ? 0 : 1
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

process.exitCode = main()
