/* eslint-disable @typescript-eslint/no-unsafe-assignment -- expect's asymmetric matchers are typed any */
import { chmod, lstat, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { get } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { MAX_CANDIDATES } from '../../src-shared/engine/limits'
import type { WireReply } from '../../src-shared/ipc'
import type { Studio } from '../../src-main/app/studio'
import { startWebHost, type WebHost } from '../../src-main/web/server'
import { keptToken, TOKEN_FILE, TokenFileError } from '../../src-main/web/token-file'
import { LOG_LIMIT, LOG_NAME, openLogFile } from '../../src-main/web/log-file'
import { createStudio } from '../../src-main/app/studio'
import { MODEL_ID, openStudio, STUDIO_HOOK_MS, tempHome } from '../app/studio-helpers'

let cleanup: () => Promise<void>
let studio: Studio
let web: WebHost
let home: string
let page: string
let base: string

beforeAll(async () => {
  const t = await tempHome('web')
  cleanup = t.cleanup
  home = t.home
  page = join(t.home, 'page')
  await mkdir(join(page, 'assets'), { recursive: true })
  await writeFile(join(page, 'index.html'), '<!doctype html><title>VAR Studio</title>')
  await writeFile(join(page, 'assets', 'app.js'), 'console.log(1)')
  studio = await openStudio(t.home)
  web = await startWebHost({ studio, rendererDir: page, port: 0 })
  base = `127.0.0.1:${web.port}`
}, STUDIO_HOOK_MS)
afterAll(async () => {
  await web.close()
  await studio.close()
  await cleanup()
})

/** A connected client that collects replies and events. */
async function connect(
  token = web.token,
  headers: Record<string, string> = {},
): Promise<{
  ws: WebSocket
  replies: WireReply[]
  next: (test: (r: WireReply) => boolean) => Promise<WireReply>
}> {
  const ws = new WebSocket(`ws://${base}/ws?token=${encodeURIComponent(token)}`, { headers })
  const replies: WireReply[] = []
  const waiters: { test: (r: WireReply) => boolean; resolve: (r: WireReply) => void }[] = []
  ws.on('message', (data: Buffer) => {
    const r = JSON.parse(data.toString('utf8')) as WireReply
    replies.push(r)
    for (const w of [...waiters])
      if (w.test(r)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(r)
      }
  })
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => {
      resolve()
    })
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`HTTP ${res.statusCode}`))
    })
    ws.once('error', reject)
  })
  const next = (test: (r: WireReply) => boolean) =>
    new Promise<WireReply>((resolve) => {
      const hit = replies.find(test)
      if (hit) resolve(hit)
      else waiters.push({ test, resolve })
    })
  return { ws, replies, next }
}

function rawStatus(path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: web.port, path, headers }, (r) => {
      r.resume()
      resolve(r.statusCode ?? 0)
    }).on('error', reject)
  })
}

const byId = (id: number) => (r: WireReply) => r.type !== 'event' && r.id === id

describe('web host', () => {
  it('serves the page with strict headers and refuses paths outside it', async () => {
    const res = await fetch(`http://${base}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-security-policy')).toMatch(
      /default-src 'none'; script-src 'self';.*frame-ancestors 'none'/,
    )
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect((await fetch(`http://${base}/assets/app.js`)).headers.get('content-type')).toMatch(/javascript/)
    expect((await fetch(`http://${base}/..%2f..%2fetc%2fpasswd`)).status).toBe(400)
    // fetch normalises dot segments itself; a raw request sends them as they are.
    expect(await rawStatus('/assets/../../../etc/passwd')).toBe(400)
    // A foreign Host header (DNS rebinding) is refused.
    expect(await rawStatus('/', { Host: 'attacker.example' })).toBe(421)
    expect((await fetch(`http://${base}/missing.js`)).status).toBe(404)
    expect((await fetch(`http://${base}/`, { method: 'POST' })).status).toBe(405)

    // a link in the page's folder is not followed out of it
    const secret = join(home, 'secret.js')
    await writeFile(secret, 'not for the page')
    await symlink(secret, join(page, 'assets', 'leak.js'))
    expect((await fetch(`http://${base}/assets/leak.js`)).status).toBe(404)
  })

  it('refuses sockets without the token, with a wrong one, or from another origin', async () => {
    await expect(connect('')).rejects.toThrow('HTTP 401')
    await expect(connect(`${web.token}x`)).rejects.toThrow('HTTP 401')
    await expect(connect(web.token, { Origin: 'http://evil.example' })).rejects.toThrow('HTTP 403')
    const ok = await connect(web.token, { Origin: `http://${base}` })
    ok.ws.close()
    // The page asks this when its socket keeps closing, to tell a wrong token from a host that is down.
    const check = async (token: string) =>
      (await fetch(`http://${base}/api/token?token=${encodeURIComponent(token)}`)).status
    expect(await check(web.token)).toBe(204)
    expect(await check(`${web.token}x`)).toBe(401)
    expect(await check('')).toBe(401)
  })

  it('answers garbage and schema-failing frames with errors and keeps serving', async () => {
    const { ws, next } = await connect()
    ws.send('not json')
    expect(await next(byId(-1))).toMatchObject({
      type: 'error',
      error: { name: 'InvalidRequestError', message: expect.stringMatching(/not JSON/) },
    })
    ws.send(Buffer.from([1, 2, 3]), { binary: true })
    ws.send(
      JSON.stringify({
        type: 'call',
        id: 5,
        channel: 'queue:add',
        args: { jobs: [{ modelId: MODEL_ID, items: [{ classId: -1, seed: 0 }], seedPolicy: 'fixed' }] },
      }),
    )
    expect(await next(byId(5))).toMatchObject({
      type: 'error',
      error: { field: 'jobs.0.items.0.classId', message: expect.stringMatching(/must be >= 0/) },
    })
    // N = 1e9 candidates (the reliability probe): refused by the request schema, its bound named
    const absurd = { kind: 'var-scaling', N: 1e9 }
    const job = { modelId: MODEL_ID, items: [{ classId: 1, seed: 0 }], strategy: absurd, seedPolicy: 'fixed' }
    ws.send(JSON.stringify({ type: 'call', id: 9, channel: 'queue:add', args: { jobs: [job] } }))
    expect(await next(byId(9))).toMatchObject({
      type: 'error',
      error: {
        field: 'jobs.0.strategy.N',
        message: expect.stringMatching(new RegExp(`must be at most ${MAX_CANDIDATES} .*limits\\.ts`)),
      },
    })
    ws.send(JSON.stringify({ type: 'call', id: 6, channel: 'no:such', args: {} }))
    expect(await next(byId(6))).toMatchObject({
      type: 'error',
      error: { message: expect.stringMatching(/Unknown call/) },
    })
    ws.send(JSON.stringify({ type: 'call', id: 7, channel: 'app:info', args: {}, extra: 1 }))
    expect(await next(byId(7))).toMatchObject({
      type: 'error',
      error: { message: expect.stringMatching(/Not a call/) },
    })
    ws.send('x'.repeat(25 * 1024 * 1024))
    ws.send(JSON.stringify({ type: 'call', id: 8, channel: 'app:info', args: {} }))
    expect(await next(byId(8))).toMatchObject({ type: 'result', result: { host: 'web', name: 'VAR Studio' } })
    expect(
      (await next((r) => r.type === 'error' && /over the \d+ byte limit/.test(r.error.message))).type,
    ).toBe('error')
    ws.close()
  })

  it('runs a real job over the socket: job:scale for every scale, then history', async () => {
    const { ws, next, replies } = await connect()
    ws.send(
      JSON.stringify({
        type: 'call',
        id: 1,
        channel: 'queue:add',
        args: {
          jobs: [
            {
              modelId: MODEL_ID,
              items: [
                { classId: 7, seed: 1 },
                { classId: 8, seed: 2 },
              ],
              strategy: { kind: 'var-scaling', N: 6, k: 2 },
              seedPolicy: 'increment',
            },
          ],
        },
      }),
    )
    const added = await next(byId(1))
    expect(added.type).toBe('result')
    const jobId = (added as { result: { jobIds: string[] } }).result.jobIds[0]
    const history = await next((r) => r.type === 'event' && r.event === 'history:changed')
    const scales = replies.flatMap((r) =>
      r.type === 'event' && r.event === 'job:scale'
        ? [
            r.data as {
              jobId: string
              pn: number
              tokens: number[][]
              previews?: string[]
              selection?: { si: number; N: number; candidates: number[][]; chosen: number }
            },
          ]
        : [],
    )
    // the search scale (index 1, the 2x2 map) carries the first image's candidates for the live timeline
    const withSelection = scales.filter((s) => s.selection !== undefined)
    expect(withSelection.map((s) => s.pn)).toEqual([2])
    const live = withSelection[0].selection
    expect(live?.si).toBe(1)
    expect(live?.candidates).toHaveLength(6)
    expect(live?.candidates[live.chosen]).toEqual(withSelection[0].tokens[0])
    expect(scales.map((s) => s.pn)).toEqual([1, 2, 3, 4, 5, 7])
    expect(
      scales.every((s) => s.jobId === jobId && s.tokens.length === 1 && s.tokens[0].length === s.pn * s.pn),
    ).toBe(true)
    expect(scales.every((s) => s.previews?.length === 1)).toBe(true)
    const added2 = (history as { data: { added: { id: string; jobId: string }[] } }).data.added
    expect(added2).toHaveLength(2)
    ws.send(JSON.stringify({ type: 'call', id: 2, channel: 'history:list', args: {} }))
    const list = (await next(byId(2))) as { result: { id: string; jobId: string; seed: number }[] }
    // the event carries the same entries the list returns, so a view need not list again
    const byIdOf = (xs: { id: string }[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id))
    expect(byIdOf(added2)).toEqual(byIdOf(list.result))
    expect(added2.every((e) => e.jobId === jobId)).toBe(true)
    // previews (default: cheap previews from the model's preview map): every image has one after
    // every scale, the map's before the last scale, whose preview is the decoded image itself
    const ordered = [...list.result].sort((a, b) => a.seed - b.seed)
    const withPreview: string[][] = []
    for (const [i, entry] of ordered.entries()) {
      ws.send(
        JSON.stringify({ type: 'call', id: 3 + i, channel: 'history:timeline', args: { imageId: entry.id } }),
      )
      const timeline = (await next(byId(3 + i))) as {
        result: { scales: { preview?: string; previewKind?: string }[] }
      }
      withPreview.push(timeline.result.scales.map((s) => (s.preview ? (s.previewKind ?? 'decode') : 'none')))
    }
    const kinds = ['projection', 'projection', 'projection', 'projection', 'projection', 'decode']
    expect(withPreview).toEqual([kinds, kinds])
    // the second image's full partial decodes, made on demand from its token maps and kept
    const second = ordered[1].id
    ws.send(
      JSON.stringify({ type: 'call', id: 10, channel: 'history:decodeScales', args: { imageId: second } }),
    )
    const decoded = (await next(byId(10))) as {
      result: { scales: { tokens: number[]; preview?: string; previewKind?: string }[] }
    }
    expect(decoded.result.scales.map((s) => s.preview?.startsWith('data:image/png;base64,'))).toEqual(
      new Array<boolean>(6).fill(true),
    )
    expect(decoded.result.scales.every((s) => s.previewKind === undefined)).toBe(true)
    const progress = replies.flatMap((r) =>
      r.type === 'event' && r.event === 'history:decodeProgress'
        ? [r.data as { imageId: string; done: number; scales: number }]
        : [],
    )
    expect(progress).toEqual([1, 2, 3, 4, 5, 6].map((done) => ({ imageId: second, done, scales: 6 })))
    ws.send(JSON.stringify({ type: 'call', id: 11, channel: 'history:timeline', args: { imageId: second } }))
    const kept = (await next(byId(11))) as { result: unknown }
    expect(kept.result).toEqual(decoded.result)
    ws.send(
      JSON.stringify({ type: 'call', id: 12, channel: 'history:decodeScales', args: { imageId: 'no-such' } }),
    )
    const missing = (await next(byId(12))) as { error?: { message: string } }
    expect(missing.error?.message).toMatch(/No image "no-such" in the history/)
    ws.close()
  })
})

describe('serve --keep-token', () => {
  it('keeps one token (0600) across restarts, so a bookmarked address still connects', async () => {
    const t = await tempHome('token')
    try {
      const first = await keptToken(t.home)
      expect(first.created).toBe(true)
      expect(first.path).toBe(join(t.home, TOKEN_FILE))
      expect((await lstat(first.path)).mode & 0o777).toBe(0o600)
      const again = await keptToken(t.home)
      expect(again).toEqual({ ...first, created: false })

      // two starts of the web host on the kept token: the first one's address works on the second
      const s = await openStudio(join(t.home, 'studio'))
      try {
        const one = await startWebHost({ studio: s, rendererDir: page, port: 0, token: first.token })
        const bookmark = new URL(one.url)
        await one.close()
        const two = await startWebHost({
          studio: s,
          rendererDir: page,
          port: Number(bookmark.port),
          token: (await keptToken(t.home)).token,
        })
        try {
          expect(two.url).toBe(bookmark.href)
          const check = await fetch(
            `${bookmark.origin}/api/token?token=${bookmark.searchParams.get('token') ?? ''}`,
          )
          expect(check.status).toBe(204)
        } finally {
          await two.close()
        }
      } finally {
        await s.close()
      }
    } finally {
      await t.cleanup()
    }
  })

  it('refuses a token file others can read, a link, a folder or a damaged file', async () => {
    const t = await tempHome('token-bad')
    try {
      const { path, token } = await keptToken(t.home)
      for (const mode of [0o640, 0o604, 0o620]) {
        await chmod(path, mode)
        await expect(keptToken(t.home)).rejects.toThrow(TokenFileError)
        await expect(keptToken(t.home)).rejects.toThrow(/may be read or changed by other users.*chmod 600/)
      }
      await chmod(path, 0o600)
      expect((await keptToken(t.home)).token).toBe(token)

      await writeFile(path, 'short\n')
      await expect(keptToken(t.home)).rejects.toThrow(/is not a token/)

      await rm(path)
      const elsewhere = join(t.home, 'elsewhere')
      await writeFile(elsewhere, `${token}\n`, { mode: 0o600 })
      await symlink(elsewhere, path)
      await expect(keptToken(t.home)).rejects.toThrow(/not a regular file \(a link\)/)
      await rm(path)
      await mkdir(path)
      await expect(keptToken(t.home)).rejects.toThrow(/not a regular file/)
    } finally {
      await t.cleanup()
    }
  })
})

describe('the web host log', () => {
  it('writes the log into <home>/logs, which app:info and shell:open name', async () => {
    const t = await tempHome('logs')
    try {
      const log = await openLogFile(join(t.home, 'logs'))
      const s = await createStudio({
        home: t.home,
        version: '0.0.0-test',
        hostName: 'web',
        log: (line) => {
          log.write(line)
        },
        logsDir: log.dir,
      })
      try {
        log.write('hello from the test')
        expect((await s.handle('app:info', {})) as { logsDir?: string }).toMatchObject({
          logsDir: join(t.home, 'logs'),
        })
        // the web host cannot open a folder: it says which one it meant
        expect(await s.handle('shell:open', { what: 'logs' })).toEqual({
          opened: false,
          path: join(t.home, 'logs'),
        })
        expect(await s.handle('shell:open', { what: 'output' })).toEqual({
          opened: false,
          path: s.outputDir(),
        })
      } finally {
        await s.close()
        await log.close()
      }
      const text = await readFile(join(t.home, 'logs', LOG_NAME), 'utf8')
      expect(text).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z hello from the test$/m)
      expect((await lstat(join(t.home, 'logs', LOG_NAME))).mode & 0o077).toBe(0)
      // a long log is kept aside and a new one begun
      await writeFile(join(t.home, 'logs', LOG_NAME), Buffer.alloc(LOG_LIMIT + 1))
      const next = await openLogFile(join(t.home, 'logs'))
      next.write('fresh')
      await next.close()
      expect((await lstat(join(t.home, 'logs', `${LOG_NAME}.1`))).size).toBe(LOG_LIMIT + 1)
      expect(await readFile(join(t.home, 'logs', LOG_NAME), 'utf8')).toMatch(/ fresh\n$/)
    } finally {
      await t.cleanup()
    }
  })
})
