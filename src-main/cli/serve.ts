/**
 * `var-studio serve`: the studio in a browser. Builds the page when needed, starts the studio
 * service and the web host, prints the URL with its token, and runs until Ctrl+C.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { InvalidRequestError } from '../../src-shared/errors'
import { createStudio } from '../app/studio'
import { packageRoot } from '../resources'
import { defaultHome } from '../storage/user-models'
import { openLogFile, type LogFile } from '../web/log-file'
import { ensureRenderer, rendererPaths } from '../web/renderer-build'
import { startWebHost } from '../web/server'
import { keptToken } from '../web/token-file'
import type { CliContext } from './context'
import { numberFlag } from './knobs'

export const SERVE_HELP = `Usage: var-studio serve [options]

  --port N      port to listen on (default 5178; 0 picks a free one)
  --host H      address to bind (default 127.0.0.1; anything else is reachable from other machines)
  --home DIR    settings, queue and model list (default: $VAR_STUDIO_HOME or ~/.config/var-studio)
  --out DIR     output folder for images, history and exports (default: the setting, else <home>/outputs)
  --open        open the page in the default browser
  --keep-token  keep the access token across restarts (in <home>/web-token, readable by you only), so
                a bookmarked page still connects; without it every start makes a new token
Log: what is printed here also goes to <home>/logs/web-host.log.
`

const DEFAULT_PORT = 5178

function openBrowser(url: string): void {
  const [cmd, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '', url]]
        : ['xdg-open', [url]]
  const child = spawn(cmd, args, { detached: true, stdio: 'ignore' })
  child.on('error', () => undefined)
  child.unref()
}

export async function serveCommand(args: string[], ctx: CliContext): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      home: { type: 'string' },
      out: { type: 'string' },
      open: { type: 'boolean' },
      'keep-token': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (v.help) {
    ctx.io.out(SERVE_HELP)
    return 0
  }
  const port = v.port === undefined ? DEFAULT_PORT : numberFlag('--port', v.port, true)
  if (port < 0 || port > 65535)
    throw new InvalidRequestError('--port', `--port: must be in [0, 65535], got ${port}`)
  const host = v.host ?? '127.0.0.1'
  if (!['127.0.0.1', 'localhost', '::1'].includes(host)) {
    ctx.io.err(
      `Warning: binding to ${host} makes the studio reachable from other machines. Anyone with the URL ` +
        '(it holds the token) can generate images and read and delete your history. Traffic is not encrypted.',
    )
  }
  const root = packageRoot()
  if (!root) throw new InvalidRequestError('serve', 'serve: cannot find the var-studio package folder')
  const paths = rendererPaths(root)
  try {
    await ensureRenderer(paths, ctx.io.err)
  } catch (error) {
    // The API still works without a fresh page (scripts, a page built earlier); say what failed.
    const why = error instanceof Error ? error.message.split('\n').slice(0, 12).join('\n') : String(error)
    ctx.io.err(
      `Warning: the studio page could not be built, so ${existsSync(join(paths.outDir, 'index.html')) ? 'the previous build is served' : 'no page is served (the WebSocket API works)'}:\n${why}`,
    )
  }
  const home = v.home ? resolve(v.home) : defaultHome()
  let logFile: LogFile | undefined
  try {
    logFile = await openLogFile(join(home, 'logs'))
  } catch (error) {
    ctx.io.err(
      `Warning: no log file (${error instanceof Error ? error.message : String(error)}); the log is only printed here`,
    )
  }
  const log = (line: string): void => {
    ctx.io.err(line)
    logFile?.write(line)
  }
  const studio = await createStudio({
    home,
    outputDir: v.out ? resolve(v.out) : undefined,
    version: ctx.version,
    hostName: 'web',
    log,
    ...(logFile ? { logsDir: logFile.dir } : {}),
  })
  let web
  try {
    const kept = v['keep-token'] ? await keptToken(studio.home) : undefined
    if (kept)
      log(kept.created ? `A new token is kept in ${kept.path}` : `Using the token kept in ${kept.path}`)
    const token = kept?.token
    try {
      web = await startWebHost({ studio, rendererDir: paths.outDir, host, port, ...(token ? { token } : {}) })
    } catch (error) {
      if (v.port !== undefined || !(error instanceof Error && 'code' in error && error.code === 'EADDRINUSE'))
        throw error
      log(`Port ${DEFAULT_PORT} is in use; using a free port instead.`)
      web = await startWebHost({
        studio,
        rendererDir: paths.outDir,
        host,
        port: 0,
        ...(token ? { token } : {}),
      })
    }
  } catch (error) {
    await studio.close()
    await logFile?.close()
    throw error
  }
  log(`VAR Studio is running on ${web.host}:${web.port}. Home: ${studio.home}  Output: ${studio.outputDir()}`)
  ctx.io.err('Open this address (it holds the access token); press Ctrl+C to stop:')
  ctx.io.out(web.url)
  if (v.open) openBrowser(web.url)

  await new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      done()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  log('Stopping (the running job goes back to the queue)...')
  await web.close()
  await studio.close()
  await logFile?.close()
  return 0
}
