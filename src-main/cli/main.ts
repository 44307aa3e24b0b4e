/**
 * The `var-studio` command line. Run in place through tsx by bin/var-studio.js.
 * Exit codes: 0 ok, 1 the work failed (invalid model, ...), 2 bad usage.
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { StudioError } from '../../src-shared/errors'
import { inspectModelFolder } from '../storage/model-folder'

const DEFAULT_MODEL_DIR = fileURLToPath(new URL('../../models/fashion-mnist-var', import.meta.url))

const HELP = `Usage: var-studio <command> [options]

Commands:
  models inspect [dir] [--hashes]   Validate a model folder (manifest.json and its files).
                                    dir defaults to the bundled ${DEFAULT_MODEL_DIR}
  help                              Show this help.

Not available yet: generate, eval, serve (the web host).
`

export interface CliIo {
  out: (line: string) => void
  err: (line: string) => void
}

const consoleIo: CliIo = {
  out: (line) => {
    console.log(line)
  },
  err: (line) => {
    console.error(line)
  },
}

async function modelsInspect(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { hashes: { type: 'boolean', default: false } },
  })
  if (positionals.length > 1) {
    io.err('models inspect takes at most one folder')
    return 2
  }
  const dir = resolve(positionals[0] ?? DEFAULT_MODEL_DIR)
  const report = await inspectModelFolder(dir, { hashes: values.hashes })
  const m = report.manifest
  io.out(`${m.display_name} (${m.id}, ${m.format}) in ${dir}`)
  io.out(`  source: ${m.source.kind}`)
  io.out(`  transformer: depth ${m.depth}, ${m.num_heads} heads x ${m.head_dim} = ${m.embed_dim}`)
  io.out(`  tokens: vocab ${m.vocab_size}, Cvae ${m.Cvae}, scales ${m.patch_nums.join(',')} (L = ${m.L})`)
  io.out(`  images: ${m.image_size}x${m.image_size}x${m.image_channels}, ${m.num_classes} classes`)
  io.out(`  graphs: ${Object.keys(m.graphs).join(', ')}`)
  const bad = report.files.filter((f) => !f.ok)
  for (const f of report.files)
    io.out(`  ${f.ok ? 'ok  ' : 'FAIL'} ${f.name}${f.problem ? `: ${f.problem}` : ''}`)
  if (bad.length > 0) {
    io.err(`${bad.length} of ${report.files.length} files do not match the manifest`)
    return 1
  }
  io.out(
    values.hashes
      ? 'All files present, sizes and hashes match.'
      : 'All files present with the listed sizes (use --hashes to verify sha256).',
  )
  return 0
}

/** Runs one CLI invocation and returns its exit code; never calls process.exit. */
export async function main(argv: readonly string[], io: CliIo = consoleIo): Promise<number> {
  const command = argv.at(0)
  const sub = argv.at(1)
  const rest = argv.slice(2)
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      io.out(HELP)
      return 0
    }
    if (command === 'models' && sub === 'inspect') return await modelsInspect(rest, io)
    if (command === 'serve') {
      io.err(
        'The web host is not implemented yet. What exists today: the Electron shell (npm run dev / npm start)',
      )
      io.err('and `var-studio models inspect`. `npm run web` will start the web host once it lands.')
      return 1
    }
    io.err(`Unknown command: ${argv.join(' ')}\n\n${HELP}`)
    return 2
  } catch (error) {
    if (error instanceof StudioError) {
      io.err(`${error.name}: ${error.message}`)
      return 1
    }
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      io.err(error.message)
      return 2
    }
    throw error
  }
}
