/**
 * Suggestions for what people mistype on the command line: the nearest flag of the command
 * (`--clas` → `--class`) and the nearest command (`gen` → `generate`), read from the help texts so
 * that a suggestion is always something the help documents.
 */
import { levenshtein } from './classes'

/** The top-level commands, in the help's order. */
export const COMMANDS = ['generate', 'eval', 'sweep', 'calibrate', 'models', 'info', 'serve', 'help'] as const
export const MODELS_SUBCOMMANDS = ['list', 'show', 'inspect', 'add', 'remove', 'dir', 'verify'] as const

/** Every `--flag` a help text names, in order of first mention. */
export function flagsIn(help: string): string[] {
  return [...new Set(help.match(/--[A-Za-z][\w-]*/g) ?? [])]
}

/**
 * The candidate nearest to `word`: the one it begins (at least 2 characters typed), else the
 * closest by edit distance (case aside) within a distance that still looks like a typo; undefined
 * when nothing is near.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const key = word.toLowerCase()
  if (key === '') return undefined
  const prefixed = candidates.filter((c) => key.length >= 2 && c.toLowerCase().startsWith(key))
  if (prefixed.length === 1) return prefixed[0]
  const limit = Math.max(1, Math.min(3, Math.ceil(key.length / 3)))
  let best: { name: string; d: number } | undefined
  for (const name of prefixed.length > 1 ? prefixed : candidates) {
    const d = levenshtein(key, name.toLowerCase())
    if (d <= limit && (best === undefined || d < best.d)) best = { name, d }
  }
  return best?.name
}

/**
 * The message for an unknown option (node's parseArgs says "Unknown option '--clas'" and how to
 * pass a positional starting with '-'): the flag, the nearest one the command's help names, and
 * where to read the rest.
 */
export function unknownOptionMessage(parseMessage: string, help: string, command: string): string {
  const flag = /Unknown option '([^']+)'/.exec(parseMessage)?.[1]
  if (flag === undefined) return parseMessage
  const name = flag.replace(/=.*$/, '')
  const near = nearest(
    name.replace(/^-+/, ''),
    flagsIn(help).map((f) => f.slice(2)),
  )
  const hint = near === undefined ? '' : ` Did you mean --${near}?`
  return `Unknown option ${name}.${hint} See: var-studio ${command} --help`
}

/** The short usage printed for an unknown command, with the nearest command when one is near. */
export function unknownCommandMessage(argv: readonly string[]): string {
  const command = argv.at(0) ?? ''
  const sub = argv.at(1)
  if (command === 'models') {
    const near = nearest(sub ?? '', MODELS_SUBCOMMANDS)
    const what = sub === undefined ? 'models needs a subcommand.' : `Unknown command: models ${sub}.`
    return [
      near === undefined ? what : `${what} Did you mean: var-studio models ${near}?`,
      `Usage: var-studio models ${MODELS_SUBCOMMANDS.join('|')} [options]`,
      'See: var-studio help',
    ].join('\n')
  }
  const near = nearest(command.replace(/^-+/, ''), COMMANDS)
  return [
    near === undefined
      ? `Unknown command: ${command}.`
      : `Unknown command: ${command}. Did you mean: var-studio ${near}?`,
    `Usage: var-studio <command> [options]   commands: ${COMMANDS.join(', ')}`,
    'See: var-studio help, or var-studio <command> --help',
  ].join('\n')
}
