/** Serves the built renderer: GET and HEAD only, inside its folder only, with fixed content types. */
import { createReadStream } from 'node:fs'
import { realpath, stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { isInside } from '../storage/contained'

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
  res.end(`${text}\n`)
}

/** The file a URL path names inside `root`, or undefined when it would leave it. */
export function resolveInside(root: string, urlPath: string): string | undefined {
  let decoded: string
  try {
    decoded = decodeURIComponent(urlPath)
  } catch {
    return undefined
  }
  if (decoded.includes('\0') || decoded.includes('\\') || decoded.split('/').includes('..')) return undefined
  const path = resolve(root, `.${sep}${normalize(decoded)}`)
  return path === root || path.startsWith(root + sep) ? path : undefined
}

export async function serveStatic(req: IncomingMessage, res: ServerResponse, rootDir: string): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD')
    plain(res, 405, 'Method not allowed')
    return
  }
  const root = resolve(rootDir)
  const urlPath = (req.url ?? '/').split('?')[0] ?? '/'
  const wanted = resolveInside(root, urlPath === '/' ? '/index.html' : urlPath)
  if (!wanted) {
    plain(res, 400, 'Bad path')
    return
  }
  // Paths without an extension are the app's own routes: they get the page.
  const path = extname(wanted) === '' ? join(root, 'index.html') : wanted
  let size: number
  try {
    const s = await stat(path)
    if (!s.isFile()) throw new Error('not a file')
    // a link inside the page's folder is not followed out of it
    if (!isInside(await realpath(root), await realpath(path))) throw new Error('outside the folder')
    size = s.size
  } catch {
    plain(res, 404, 'Not found')
    return
  }
  const html = path.endsWith('.html')
  res.writeHead(200, {
    'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream',
    'Content-Length': size,
    // Built assets carry a content hash in their names; the page itself must always be fresh.
    'Cache-Control':
      !html && urlPath.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-store',
  })
  if (req.method === 'HEAD') {
    res.end()
    return
  }
  createReadStream(path)
    .on('error', () => res.destroy())
    .pipe(res)
}
