/**
 * A single-node Slurm for tests, from Debian's slurm-wlm and munge: munged (as the munge user, on its
 * own socket), slurmctld and slurmd (as root) in the foreground, all state in a temporary folder,
 * free ports, SLURM_CONF pointing at the generated slurm.conf. stop() ends exactly the processes
 * start() began, by their PIDs.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { cpus, hostname, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'

const BINARIES = [
  '/usr/sbin/munged',
  '/usr/sbin/slurmctld',
  '/usr/sbin/slurmd',
  '/usr/bin/sbatch',
  '/usr/bin/sinfo',
]
const KEY = '/etc/munge/munge.key'

/** Why this machine cannot run the cluster, or undefined when it can. */
export function unavailable(): string | undefined {
  const missing = BINARIES.filter((b) => !existsSync(b))
  if (missing.length > 0)
    return `Slurm/munge binaries missing: ${missing.join(', ')} (apt-get install slurm-wlm munge)`
  if (process.getuid?.() !== 0) return 'the single-node Slurm needs root (slurmd runs jobs as their user)'
  return undefined
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => {
        resolve(port)
      })
    })
  })
}

function idOf(name: string, flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim())
}

export interface Cluster {
  readonly dir: string
  readonly conf: string
  readonly partition: string
  /** environment for sbatch, squeue and scontrol: SLURM_CONF set */
  readonly env: NodeJS.ProcessEnv
  /** the daemons' logs, for a failure message */
  logs(): Promise<string>
  stop(): Promise<void>
}

async function waitFor(
  what: string,
  check: () => boolean,
  ms: number,
  logs: () => Promise<string>,
): Promise<void> {
  const until = Date.now() + ms
  while (!check()) {
    if (Date.now() > until) throw new Error(`${what} did not happen within ${ms / 1000} s\n${await logs()}`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

export async function startCluster(): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'var-slurm-'))
  await chmod(dir, 0o755)
  const host = hostname().split('.')[0] ?? 'localhost'
  const partition = 'eval'
  const children: ChildProcess[] = []
  const mungeDir = join(dir, 'munge')
  const socket = join(mungeDir, 'munge.socket')
  const conf = join(dir, 'slurm.conf')
  const env = { ...process.env, SLURM_CONF: conf }
  const logFiles = ['munged.log', 'slurmctld.log', 'slurmd.log'].map((f) => join(dir, f))
  const exits: string[] = []
  const logs = async (): Promise<string> => {
    const parts: string[] = [...exits]
    for (const f of logFiles) {
      const text = existsSync(f) ? await readFile(f, 'utf8') : '(none)'
      parts.push(`--- ${f}\n${text.split('\n').slice(-25).join('\n')}`)
    }
    return parts.join('\n')
  }
  const stop = async (): Promise<void> => {
    // jobs first (a failed test may leave some running), so no job step outlives the daemons
    if (existsSync(conf)) {
      const quiet = { env, stdio: 'ignore' as const, timeout: 30_000 }
      try {
        execFileSync('scancel', ['--full', '--user', 'root'], quiet)
        const until = Date.now() + 60_000
        while (Date.now() < until) {
          const left = execFileSync('squeue', ['-h', '-o', '%i'], {
            ...quiet,
            stdio: 'pipe',
            encoding: 'utf8',
          })
          if (left.trim() === '') break
          await new Promise((r) => setTimeout(r, 1000))
        }
      } catch {
        // the controller is not up: no jobs to cancel
      }
    }
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue
      const exited = new Promise<'exited'>((resolve) => {
        child.once('exit', () => {
          resolve('exited')
        })
      })
      process.kill(child.pid, 'SIGTERM')
      const timer = new Promise<'late'>((resolve) => {
        setTimeout(() => {
          resolve('late')
        }, 15_000)
      })
      if ((await Promise.race([exited, timer])) === 'late') {
        process.kill(child.pid, 'SIGKILL')
        await exited
      }
    }
    await rm(dir, { recursive: true, force: true })
  }
  const daemon = (cmd: string, args: string[], opts: { uid?: number; gid?: number } = {}): ChildProcess => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'], ...opts })
    let err = ''
    child.stderr.on('data', (b: Buffer) => {
      err = (err + b.toString()).slice(-4000)
    })
    child.once('exit', (code, signal) => {
      if (code !== 0 && signal === null) exits.push(`${cmd} exited with ${code}: ${err}`)
    })
    children.push(child)
    return child
  }
  try {
    if (!existsSync(KEY)) {
      execFileSync('mungekey', ['--create', '--keyfile', KEY])
      await chown(KEY, idOf('munge', '-u'), idOf('munge', '-g'))
      await chmod(KEY, 0o600)
    }
    await mkdir(mungeDir, { mode: 0o755 })
    await chown(mungeDir, idOf('munge', '-u'), idOf('munge', '-g'))
    daemon(
      '/usr/sbin/munged',
      [
        '-F',
        `--socket=${socket}`,
        `--key-file=${KEY}`,
        `--log-file=${join(dir, 'munged.log')}`,
        `--pid-file=${join(mungeDir, 'munged.pid')}`,
        `--seed-file=${join(mungeDir, 'munged.seed')}`,
      ],
      { uid: idOf('munge', '-u'), gid: idOf('munge', '-g') },
    )
    await waitFor('munged socket', () => existsSync(socket), 30_000, logs)

    const [ctlPort, dPort] = [await freePort(), await freePort()]
    const memory = Math.max(1024, Math.floor((totalmem() / 2 ** 20) * 0.5))
    for (const d of ['state', 'spool']) await mkdir(join(dir, d))
    await writeFile(
      conf,
      [
        'ClusterName=varstudio',
        `SlurmctldHost=${host}(127.0.0.1)`,
        `SlurmctldPort=${ctlPort}`,
        `SlurmdPort=${dPort}`,
        'SlurmUser=root',
        'SlurmdUser=root',
        'AuthType=auth/munge',
        `AuthInfo=socket=${socket}`,
        'CredType=cred/munge',
        `StateSaveLocation=${join(dir, 'state')}`,
        `SlurmdSpoolDir=${join(dir, 'spool')}`,
        `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
        `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
        `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
        `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_CPU_Memory',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'SchedulerType=sched/backfill',
        'MpiDefault=none',
        'ReturnToService=2',
        'MailProg=/bin/true',
        'SlurmdParameters=config_overrides',
        `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus().length} RealMemory=${memory} State=UNKNOWN`,
        `PartitionName=${partition} Nodes=${host} Default=YES MaxTime=INFINITE State=UP`,
        '',
      ].join('\n'),
    )
    daemon('/usr/sbin/slurmctld', ['-D', '-i', '-f', conf])
    await waitFor(
      'slurmctld answering',
      () => {
        try {
          execFileSync('scontrol', ['ping'], { env, stdio: 'pipe', timeout: 10_000 })
          return true
        } catch {
          return false
        }
      },
      60_000,
      logs,
    )
    daemon('/usr/sbin/slurmd', ['-D', '-f', conf, '-N', host])
    await waitFor(
      'the node idle',
      () => {
        try {
          const state = execFileSync('sinfo', ['-h', '-N', '-o', '%T'], {
            env,
            encoding: 'utf8',
            timeout: 10_000,
          })
          return /idle|mixed|allocated/.test(state)
        } catch {
          return false
        }
      },
      90_000,
      logs,
    )
  } catch (error) {
    await stop()
    throw error
  }
  return { dir, conf, partition, env, logs, stop }
}
