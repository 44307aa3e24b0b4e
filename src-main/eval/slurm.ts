/**
 * `var-studio eval --slurm`: an evaluation as a Slurm array job (one shard per task) and a merge job
 * that runs after every task succeeded (--dependency=afterok). The scripts call this checkout's CLI
 * with the node binary that wrote them and absolute paths, since a job's environment and working
 * folder are not the login shell's. With --submit they are handed to sbatch.
 */
import { execFile } from 'node:child_process'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { InvalidRequestError, StudioError } from '../../src-shared/errors'
import type { CliIo } from '../cli/context'
import { packageRoot } from '../resources'

export const SLURM_OPTIONS = {
  slurm: { type: 'boolean' },
  submit: { type: 'boolean' },
  shards: { type: 'string' },
  'slurm-partition': { type: 'string' },
  'slurm-time': { type: 'string' },
  'slurm-cpus': { type: 'string' },
  'slurm-mem': { type: 'string' },
  'slurm-gpus': { type: 'string' },
} as const

type SlurmFlag = keyof typeof SLURM_OPTIONS

export interface SlurmSettings {
  readonly shards: number
  readonly partition: string
  readonly time: string
  readonly cpus: number
  readonly mem: string
  readonly gpus: number
  readonly submit: boolean
}

type Values = Partial<Record<SlurmFlag, string | boolean | undefined>>

function need(v: Values, flag: SlurmFlag): string {
  const value = v[flag]
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidRequestError(`--${flag}`, `--slurm needs --${flag}`)
  }
  return value.trim()
}

function count(flag: string, value: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new InvalidRequestError(flag, `${flag}: must be an integer >= ${min}, got "${value}"`)
  }
  return Number(value)
}

/** The Slurm flags, checked: partition and memory as Slurm spells them, time as [D-]HH:MM:SS or minutes. */
export function slurmSettings(v: Values): SlurmSettings {
  const partition = need(v, 'slurm-partition')
  if (!/^[\w.,-]+$/.test(partition)) {
    throw new InvalidRequestError(
      '--slurm-partition',
      `--slurm-partition: not a partition name: "${partition}"`,
    )
  }
  const time = need(v, 'slurm-time')
  if (!/^(\d+-)?\d+(:\d{1,2}){0,2}$/.test(time)) {
    throw new InvalidRequestError(
      '--slurm-time',
      `--slurm-time: use minutes, HH:MM:SS or D-HH:MM:SS (as sbatch --time), got "${time}"`,
    )
  }
  const mem = need(v, 'slurm-mem')
  if (!/^\d+[KMGT]?$/i.test(mem)) {
    throw new InvalidRequestError(
      '--slurm-mem',
      `--slurm-mem: use a size as sbatch --mem (e.g. 4G, 500M), got "${mem}"`,
    )
  }
  return {
    shards: count('--shards', need(v, 'shards'), 1),
    partition,
    time,
    cpus: count('--slurm-cpus', need(v, 'slurm-cpus'), 1),
    mem,
    gpus: v['slurm-gpus'] === undefined ? 0 : count('--slurm-gpus', need(v, 'slurm-gpus'), 0),
    submit: v.submit === true,
  }
}

/** The Slurm flags mean nothing without --slurm: say so rather than ignore them. */
export function rejectSlurmFlags(v: Values): void {
  for (const flag of Object.keys(SLURM_OPTIONS) as SlurmFlag[]) {
    if (flag !== 'slurm' && v[flag] !== undefined) {
      throw new InvalidRequestError(`--${flag}`, `--${flag}: only with --slurm`)
    }
  }
}

/** A word for bash, single-quoted unless it is plainly safe. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`
}

/** The eval arguments less the given options (Slurm's, and the paths the jobs get absolute). */
function argsWithout(
  args: readonly string[],
  options: ParseArgsConfig['options'],
  drop: ReadonlySet<string>,
): string[] {
  type Token = { kind: string; index: number; name?: string; value?: string; inlineValue?: boolean }
  const parsed = parseArgs({ args: [...args], options, tokens: true, strict: true }) as { tokens?: Token[] }
  const skip = new Set<number>()
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option' || t.name === undefined || !drop.has(t.name)) continue
    skip.add(t.index)
    if (t.value !== undefined && !t.inlineValue) skip.add(t.index + 1)
  }
  return args.filter((_, i) => !skip.has(i))
}

export interface SlurmJobRequest {
  readonly args: readonly string[]
  readonly options: ParseArgsConfig['options']
  readonly settings: SlurmSettings
  /** the evaluation's folder: shards/ and slurm/ inside, eval.json when merged */
  readonly out: string
  readonly modelDir: string
  readonly data: string
  readonly cacheDir: string
}

export interface SlurmScripts {
  readonly array: string
  readonly merge: string
  readonly shardsDir: string
  readonly logsDir: string
}

const PATH_FLAGS = ['out', 'model', 'models-dir', 'data', 'cache-dir', 'shard']

function header(s: SlurmSettings, name: string, output: string, cwd: string, extra: string[] = []): string[] {
  return [
    '#!/bin/bash',
    `#SBATCH --job-name=${name}`,
    ...extra,
    `#SBATCH --partition=${s.partition}`,
    `#SBATCH --time=${s.time}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --cpus-per-task=${s.cpus}`,
    `#SBATCH --mem=${s.mem}`,
    ...(s.gpus > 0 ? [`#SBATCH --gres=gpu:${s.gpus}`] : []),
    `#SBATCH --chdir=${cwd}`,
    `#SBATCH --output=${output}`,
    'set -euo pipefail',
  ]
}

/** Writes slurm/eval-array.sbatch and slurm/eval-merge.sbatch under the evaluation's folder. */
export async function writeSlurmScripts(r: SlurmJobRequest): Promise<SlurmScripts> {
  const root = packageRoot()
  if (!root) throw new StudioError('cannot find the var-studio package folder to run on the cluster')
  const bin = join(root, 'bin', 'var-studio.js')
  const slurmDir = join(r.out, 'slurm')
  const logsDir = join(slurmDir, 'logs')
  const shardsDir = join(r.out, 'shards')
  await mkdir(logsDir, { recursive: true })
  await mkdir(shardsDir, { recursive: true })
  const s = r.settings
  const evalArgs = argsWithout(r.args, r.options, new Set([...Object.keys(SLURM_OPTIONS), ...PATH_FLAGS]))
  const cli = [process.execPath, bin].map(shellWord).join(' ')
  const cwd = process.cwd()
  const array = [
    ...header(s, 'var-eval', join(logsDir, 'shard-%a-job-%A.out'), cwd, [
      `#SBATCH --array=0-${s.shards - 1}`,
    ]),
    `# shard i of ${s.shards} per task; re-run one alone with: sbatch --array=i ${join(slurmDir, 'eval-array.sbatch')}`,
    `exec ${cli} eval ${evalArgs.map(shellWord).join(' ')} \\`,
    `  --model ${shellWord(r.modelDir)} --data ${shellWord(r.data)} --cache-dir ${shellWord(r.cacheDir)} \\`,
    `  --shard "\${SLURM_ARRAY_TASK_ID}/${s.shards}" --out ${shellWord(shardsDir)}`,
    '',
  ].join('\n')
  const merge = [
    ...header({ ...s, cpus: 1, gpus: 0 }, 'var-eval-merge', join(logsDir, 'merge-job-%j.out'), cwd),
    `exec ${cli} eval merge ${shellWord(shardsDir)} --out ${shellWord(r.out)}`,
    '',
  ].join('\n')
  const arrayFile = join(slurmDir, 'eval-array.sbatch')
  const mergeFile = join(slurmDir, 'eval-merge.sbatch')
  await writeFile(arrayFile, array)
  await writeFile(mergeFile, merge)
  await chmod(arrayFile, 0o755)
  await chmod(mergeFile, 0o755)
  return { array: arrayFile, merge: mergeFile, shardsDir, logsDir }
}

function sbatch(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('sbatch', ['--parsable', ...args], { timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) {
        const why =
          (error as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'sbatch is not on PATH (run on a Slurm login node, or leave out --submit and copy the scripts there)'
            : stderr.trim() || error.message
        reject(new StudioError(`sbatch ${args.join(' ')}: ${why}`))
        return
      }
      const id = stdout.trim().split(';')[0] ?? ''
      if (!/^\d+$/.test(id))
        reject(new StudioError(`sbatch ${args.join(' ')}: no job id in its output "${stdout.trim()}"`))
      else resolve(id)
    })
  })
}

/** Writes the scripts, and with --submit queues the array and the merge that waits for it. */
export async function writeSlurmJobs(r: SlurmJobRequest, io: CliIo): Promise<number> {
  const scripts = await writeSlurmScripts(r)
  io.out(`array job (${r.settings.shards} shards): ${scripts.array}`)
  io.out(`merge job: ${scripts.merge}`)
  const rerun = `sbatch --array=3 ${scripts.array}`
  if (!r.settings.submit) {
    io.out(
      `submit: id=$(sbatch --parsable ${scripts.array}) && sbatch --dependency=afterok:$id ${scripts.merge}`,
    )
    io.out(
      `result: ${join(r.out, 'eval.json')} (and eval.md, eval.csv, eval-chart.png) once the merge job ends`,
    )
    return 0
  }
  const arrayId = await sbatch([scripts.array])
  const mergeId = await sbatch([`--dependency=afterok:${arrayId}`, scripts.merge])
  io.out(`submitted array job ${arrayId} (tasks ${arrayId}_0..${arrayId}_${r.settings.shards - 1})`)
  io.out(`submitted merge job ${mergeId} (runs after every task of ${arrayId} succeeded)`)
  io.out(`logs: ${scripts.logsDir}`)
  io.out(
    `result: ${join(r.out, 'eval.json')} (and eval.md, eval.csv, eval-chart.png) once job ${mergeId} ends`,
  )
  io.out(
    `a failed shard (say 3) runs again alone with: ${rerun}; then merge with: sbatch ${scripts.merge}` +
      ` (or var-studio eval merge ${scripts.shardsDir} --out ${r.out})`,
  )
  return 0
}
