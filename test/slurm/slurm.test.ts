/**
 * The Slurm path for real: a single-node Slurm (Debian slurm-wlm + munge) started by the test, an
 * evaluation submitted with `eval --slurm --submit` as an array of shards and a merge job, the merged
 * eval.json compared with the unsharded run, then one shard re-run alone with `sbatch --array=i`.
 * On CI (CI=true) a cluster that cannot start fails the test; elsewhere missing binaries skip it.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src-main/cli/main'
import { DEFAULT_TEST_IMAGES } from '../../src-main/eval/reference'
import { HostClient } from '../../src-main/host/client'
import { captureIo } from '../helpers/io'
import { MODEL_DIR } from '../host/model'
import { type Cluster, startCluster, unavailable } from './cluster'

const why = unavailable() ?? (existsSync(DEFAULT_TEST_IMAGES) ? undefined : `no ${DEFAULT_TEST_IMAGES}`)
if (why && process.env.CI !== 'true') console.log(`Slurm test skipped: ${why}`)
const run = why && process.env.CI !== 'true' ? describe.skip : describe

let tmp: string
let cluster: Cluster | undefined
const savedConf = process.env.SLURM_CONF

const client = (): HostClient =>
  new HostClient({
    onLog: () => undefined,
    env: { ...process.env, VAR_STUDIO_HASH_CACHE: join(tmp, 'sha256.json') },
  })

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureIo()
  const code = await main(args, c.io, { progress: { write: () => undefined }, createClient: client })
  return { code, out: c.out.join('\n'), err: c.err.join('\n') }
}

async function metrics(dir: string): Promise<unknown[]> {
  const record = JSON.parse(await readFile(join(dir, 'eval.json'), 'utf8')) as {
    rows: Record<string, unknown>[]
  }
  return record.rows.map((row) =>
    Object.fromEntries(Object.entries(row).filter(([k]) => k !== 'seconds' && k !== 'secondsPerImage')),
  )
}

/** Jobs of these ids still queued or running. */
function queued(ids: readonly string[], c: Cluster): string {
  return execFileSync('squeue', ['-h', '-j', ids.join(','), '-o', '%i %T %r'], {
    env: c.env,
    encoding: 'utf8',
    timeout: 30_000,
  }).trim()
}

async function waitForJobs(ids: readonly string[], c: Cluster, logsDir: string): Promise<void> {
  const until = Date.now() + 480_000
  let left = queued(ids, c)
  while (left !== '') {
    // a job that can never start (its dependency failed) would wait forever
    if (/DependencyNeverSatisfied/.test(left) || Date.now() > until) {
      const logs = existsSync(logsDir)
        ? execFileSync('bash', ['-c', `tail -n 20 ${logsDir}/*`], { encoding: 'utf8' })
        : ''
      throw new Error(`jobs ${ids.join(', ')} did not finish:\n${left}\n${logs}\n${await c.logs()}`)
    }
    await new Promise((r) => setTimeout(r, 2000))
    left = queued(ids, c)
  }
}

const evalArgs = (): string[] => [
  'eval',
  '--model',
  MODEL_DIR,
  '--per-class',
  '1',
  '--N',
  '2',
  '--strategies',
  'baseline,var-scaling',
  '--no-noise',
  '--bootstrap',
  '20',
  '--batch-size',
  '5',
  '--device',
  'cpu',
  '--data',
  DEFAULT_TEST_IMAGES,
  '--cache-dir',
  join(tmp, 'cache'),
]

run('eval on a single-node Slurm', () => {
  beforeAll(async () => {
    if (why) throw new Error(`the Slurm test cannot run on CI: ${why}`)
    tmp = await mkdtemp(join(tmpdir(), 'var-slurm-eval-'))
    cluster = await startCluster()
    process.env.SLURM_CONF = cluster.conf
  }, 240_000)

  afterAll(async () => {
    if (savedConf === undefined) delete process.env.SLURM_CONF
    else process.env.SLURM_CONF = savedConf
    await cluster?.stop()
    if (tmp) await rm(tmp, { recursive: true, force: true })
  }, 120_000)

  it('submits the shards as an array job and a merge job that reproduce the unsharded eval.json', async () => {
    const c = cluster
    if (!c) throw new Error('no cluster')
    const full = join(tmp, 'full')
    const r0 = await cli([...evalArgs(), '--out', full])
    expect(r0.err).toBe('')
    expect(r0.code).toBe(0)

    const out = join(tmp, 'slurm-eval')
    const submitted = await cli([
      ...evalArgs(),
      '--slurm',
      '--submit',
      '--shards',
      '3',
      '--slurm-partition',
      c.partition,
      '--slurm-time',
      '00:20:00',
      '--slurm-cpus',
      '1',
      '--slurm-mem',
      '1500M',
      '--out',
      out,
    ])
    expect(submitted.err).toBe('')
    expect(submitted.code).toBe(0)
    const arrayId = /submitted array job (\d+)/.exec(submitted.out)?.[1]
    const mergeId = /submitted merge job (\d+)/.exec(submitted.out)?.[1]
    expect(arrayId).toMatch(/^\d+$/)
    expect(mergeId).toMatch(/^\d+$/)
    const arrayScript = join(out, 'slurm', 'eval-array.sbatch')
    expect(submitted.out).toContain(`sbatch --array=3 ${arrayScript}`)
    const script = await readFile(arrayScript, 'utf8')
    expect(script).toContain('#SBATCH --array=0-2')
    expect(script).toContain('#SBATCH --cpus-per-task=1')
    expect(script).toContain('#SBATCH --mem=1500M')
    expect(script).toContain('--shard "${SLURM_ARRAY_TASK_ID}/3"')

    const logs = join(out, 'slurm', 'logs')
    await waitForJobs([arrayId ?? '', mergeId ?? ''], c, logs)
    if (!existsSync(join(out, 'eval.json'))) {
      throw new Error(
        `the merge job wrote no eval.json:\n${execFileSync('bash', ['-c', `tail -n 30 ${logs}/*`], { encoding: 'utf8' })}`,
      )
    }
    for (const i of [0, 1, 2]) expect(existsSync(join(out, 'shards', `shard-${i}-of-3.json`))).toBe(true)
    const want = await metrics(full)
    expect(want).toHaveLength(2)
    expect(await metrics(out)).toEqual(want)
    const provenance = (
      JSON.parse(await readFile(join(out, 'eval.json'), 'utf8')) as {
        provenance: { layout: { shards: number }; shards: { index: number }[] }
      }
    ).provenance
    expect(provenance.layout.shards).toBe(3)
    expect(provenance.shards.map((s) => s.index)).toEqual([0, 1, 2])

    // a lost shard: merging refuses it by name; re-run alone with the array script, then merge again
    const lost = join(out, 'shards', 'shard-1-of-3.json')
    await unlink(lost)
    const refused = await cli(['eval', 'merge', join(out, 'shards'), '--out', join(tmp, 'never')])
    expect(refused.code).toBe(1)
    expect(refused.err).toContain('missing shard 1 of 3 (shard-1-of-3.json)')
    const again = execFileSync('sbatch', ['--parsable', '--array=1', arrayScript], {
      env: c.env,
      encoding: 'utf8',
    }).trim()
    await waitForJobs([again.split(';')[0] ?? again], c, logs)
    expect(existsSync(lost)).toBe(true)
    const remerged = join(tmp, 'remerged')
    const m = await cli(['eval', 'merge', join(out, 'shards'), '--out', remerged])
    // the checkout may have moved on between the array and the re-run: said, not refused
    expect(m.err).toMatch(/^(|warning: the shards ran on \d+ code versions: .+)$/)
    expect(m.code).toBe(0)
    expect(await metrics(remerged)).toEqual(want)
  }, 900_000)
})
