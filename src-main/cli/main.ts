/**
 * The `var-studio` command line. Run in place through tsx by bin/var-studio.js.
 * Exit codes: 0 ok, 1 the work failed (invalid model, bad settings, ...), 2 bad usage, 130 cancelled.
 */
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { CancelledError, StudioError } from '../../src-shared/errors'
import { HostClient } from '../host/client'
import { packageRoot } from '../storage/model-registry'
import type { CliContext, CliIo } from './context'
import { CALIBRATE_HELP, calibrateCommand } from './calibrate'
import { EVAL_HELP, evalCommand } from './eval'
import { GENERATE_HELP, generateCommand } from './generate'
import {
  hostInfo,
  modelsAdd,
  modelsDir,
  modelsList,
  modelsRemove,
  modelsShow,
  modelsVerify,
} from './model-commands'
import type { ProgressSink } from './progress'
import { SERVE_HELP, serveCommand } from './serve'
import { SWEEP_HELP, sweepCommand } from './sweep'
import { unknownCommandMessage, unknownOptionMessage } from './suggest'

export type { CliIo }

const HELP = `Usage: var-studio <command> [options]

Commands:
  generate [options]                Generate images (see: var-studio generate --help).
  eval [options]                    Class accuracy, IS and FID per strategy and N, with a chart
                                    (see: var-studio eval --help).
  eval merge DIR|FILE... [--out DIR]
                                    Join the shards of eval --shard i/n or eval --slurm into the
                                    unsharded result (see: var-studio eval merge --help).
  sweep --x AXIS=LIST [--y ..] [--z ..]
                                    The same classes and seeds under up to three axes (strategy, N,
                                    alpha, cfg, ...): grids, metrics and curves with 95 % intervals
                                    (see: var-studio sweep --help).
  calibrate [--model M] [options]   Measure a model's density ratios and candidate distances and
                                    store its search defaults (alpha, dedup) beside it
                                    (see: var-studio calibrate --help).
  models list [--models-dir DIR]    List the shipped model, your registered models and those in
                                    your models directory.
  models show [dir|id] [--hashes]   Show a model's manifest and check its files (alias: inspect).
  models add <folder> [--no-graphs] Check a model folder (manifest, files, sha256, graph inputs
                                    and outputs) and register it; the files stay where they are.
  models remove <id|folder> [--delete-files]
                                    Forget a registered model; its files are deleted only with
                                    --delete-files.
  models dir [path | --clear]       Show or choose the folder whose model subfolders are listed
                                    without registering (large files belong there, not in the
                                    settings folder).
  models verify [dir|id] [--rehash] [--no-graphs]
                                    Check every file's size and sha256 (cached) and open every
                                    graph to compare its inputs and outputs with the manifest.
  info                              onnxruntime version and the execution-provider ladder.
  serve [--port N] [--host H] [--home DIR] [--out DIR] [--open]
                                    The studio in your browser (see: var-studio serve --help).
  help                              Show this help.

Models default to the shipped Fashion-MNIST model; --model takes a folder or a model id, and
--models-dir (or VAR_STUDIO_MODELS, a path list) adds folders of models. Registered models and the
models directory are kept in models.json under $VAR_STUDIO_HOME, else $XDG_CONFIG_HOME/var-studio
or ~/.config/var-studio. VAR_STUDIO_VERBOSE=1 shows the inference host's own log (onnxruntime
messages).

${GENERATE_HELP}
${EVAL_HELP}
${SWEEP_HELP}
${CALIBRATE_HELP}
${SERVE_HELP}`

export interface CliDeps {
  /** Creates the inference host client; tests pass their own. */
  readonly createClient?: () => HostClient
  readonly progress?: ProgressSink
}

const consoleIo: CliIo = {
  out: (line) => {
    console.log(line)
  },
  err: (line) => {
    console.error(line)
  },
}

/**
 * The host's own output (onnxruntime's native log, e.g. a provider that cannot load) is shown only
 * with VAR_STUDIO_VERBOSE=1; what matters reaches the user as results and errors, and a crash
 * report quotes the host's last lines.
 */
function hostLog(text: string): void {
  if (process.env.VAR_STUDIO_VERBOSE === '1') process.stderr.write(text)
}

/** The host keeps verified sha256 in the user's cache folder, so a second verify reads nothing. */
function hostEnv(): NodeJS.ProcessEnv {
  if (process.env.VAR_STUDIO_HASH_CACHE) return process.env
  const base =
    process.env.XDG_CACHE_HOME ??
    (process.platform === 'win32' ? process.env.LOCALAPPDATA : undefined) ??
    join(homedir(), '.cache')
  return { ...process.env, VAR_STUDIO_HASH_CACHE: join(base, 'var-studio', 'sha256.json') }
}

function packageVersion(): string {
  const root = packageRoot()
  if (!root) return '0.0.0'
  return (
    (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0'
  )
}

async function dispatch(argv: readonly string[], ctx: CliContext): Promise<number> {
  const command = argv.at(0)
  const sub = argv.at(1)
  const rest = argv.slice(2)
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    ctx.io.out(HELP)
    return 0
  }
  if (command === 'generate') return generateCommand(argv.slice(1), ctx)
  if (command === 'eval') return evalCommand(argv.slice(1), ctx)
  if (command === 'calibrate') return calibrateCommand(argv.slice(1), ctx)
  if (command === 'sweep') return sweepCommand(argv.slice(1), ctx)
  if (command === 'info') return hostInfo(ctx)
  if (command === 'models' && sub === 'list') return modelsList(rest, ctx)
  if (command === 'models' && sub === 'show') return modelsShow(rest, ctx)
  if (command === 'models' && sub === 'inspect') return modelsShow(rest, ctx, 'inspect')
  if (command === 'models' && sub === 'add') return modelsAdd(rest, ctx)
  if (command === 'models' && sub === 'remove') return modelsRemove(rest, ctx)
  if (command === 'models' && sub === 'dir') return modelsDir(rest, ctx)
  if (command === 'models' && sub === 'verify') return modelsVerify(rest, ctx)
  if (command === 'serve') return serveCommand(argv.slice(1), ctx)
  ctx.io.err(unknownCommandMessage(argv))
  return 2
}

/** The help whose flags a command takes (the models commands are described in the main help). */
function helpOf(command: string | undefined): string {
  if (command === 'generate') return GENERATE_HELP
  if (command === 'eval') return EVAL_HELP
  if (command === 'calibrate') return CALIBRATE_HELP
  if (command === 'sweep') return SWEEP_HELP
  if (command === 'serve') return SERVE_HELP
  return HELP.slice(0, HELP.indexOf(GENERATE_HELP))
}

/** Runs one CLI invocation and returns its exit code; never calls process.exit. */
export async function main(
  argv: readonly string[],
  io: CliIo = consoleIo,
  deps: CliDeps = {},
): Promise<number> {
  let client: HostClient | undefined
  const ctx: CliContext = {
    io,
    progress: deps.progress ?? process.stderr,
    client: () => (client ??= deps.createClient?.() ?? new HostClient({ onLog: hostLog, env: hostEnv() })),
    version: packageVersion(),
  }
  try {
    return await dispatch(argv, ctx)
  } catch (error) {
    if (error instanceof CancelledError) {
      io.err(`Cancelled: ${error.message}`)
      return 130
    }
    // The message is written for people; the error's class name is not (VAR_STUDIO_VERBOSE=1 adds it).
    if (error instanceof StudioError) {
      io.err(process.env.VAR_STUDIO_VERBOSE === '1' ? `${error.name}: ${error.message}` : error.message)
      return 1
    }
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      const command = argv[0] === 'models' ? `models ${argv[1] ?? ''}` : (argv[0] ?? '')
      io.err(
        error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION'
          ? unknownOptionMessage(error.message, helpOf(argv[0]), command)
          : error.message,
      )
      return 2
    }
    throw error
  } finally {
    await client?.close()
  }
}
