/**
 * Bad input in a real browser against the real web host: malformed batch files dropped onto the
 * page (wrong columns, unknown classes, non-UTF-8, 10 MB of junk, a YAML bomb, a PNG), payloads that
 * fail the schema sent over the page's own WebSocket, a socket without the token, and an export into
 * a folder that cannot be written. Each gets a clear message, nothing is queued, and the studio
 * keeps working.
 */
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import sharp from 'sharp'
import { describe, expect, it } from 'vitest'
import type { PageGlobals } from './dom'
import {
  fillGenerate,
  go,
  queueBy,
  rpc,
  shot,
  studioSuite,
  tid,
  waitForState,
  type StudioProcess,
} from './harness'

let studio: StudioProcess
let page: Page
let problems: string[]
studioSuite('bad', (s) => ({ studio, page, problems } = s))

/** What a dropped file holds: text, bytes (base64), or `size` bytes made in the page. */
type Content =
  | { readonly text: string }
  | { readonly base64: string }
  | { readonly random: number }
  | { readonly printable: number }

/** Drops a file onto the page (a real drop event with a DataTransfer holding a File). */
async function drop(p: Page, name: string, content: Content): Promise<void> {
  await p.evaluate(
    ([fileName, what]) => {
      const g = globalThis as unknown as PageGlobals & {
        crypto: { getRandomValues(a: Uint8Array): Uint8Array }
        atob(s: string): string
      }
      let part: unknown
      if ('text' in what) part = what.text
      else if ('base64' in what) part = g.Uint8Array.from(g.atob(what.base64), (c) => c.charCodeAt(0))
      else {
        const size = 'random' in what ? what.random : what.printable
        const bytes = new g.Uint8Array(size)
        for (let i = 0; i < size; i += 65536) g.crypto.getRandomValues(bytes.subarray(i, i + 65536))
        if ('printable' in what) {
          // Letters, digits and spaces, a line break every 60 characters.
          for (let i = 0; i < size; i++) bytes[i] = i % 61 === 60 ? 10 : 32 + (bytes[i] % 95)
        }
        part = bytes
      }
      const dt = new g.DataTransfer()
      dt.items.add(new g.File([part], fileName))
      const target = g.document.querySelector('main') ?? g.document.body
      target.dispatchEvent(new g.DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }))
      target.dispatchEvent(new g.DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
    },
    [name, content] as const,
  )
}

async function queuedJobs(): Promise<number> {
  return (await rpc(studio, 'queue:get', {})).jobs.length
}

/** After a bad file: a clear message, no way to queue it, nothing queued. */
async function expectRefused(p: Page, file: string): Promise<void> {
  await expect.poll(() => tid(p, 'nav-batches').getAttribute('aria-current')).toBe('page')
  const button = tid(p, 'batch-queue-button')
  if ((await button.count()) > 0) {
    expect(await button.isDisabled()).toBe(true)
    expect((await button.textContent())?.trim()).toBe('Queue 0 valid rows')
  }
  expect(await tid(p, 'batch-queued').count()).toBe(0)
  expect(await queuedJobs(), file).toBe(0)
}

async function fileError(p: Page, file: string): Promise<string> {
  const banner = tid(p, 'batch-error')
  await expect.poll(() => banner.textContent(), { timeout: 40_000 }).toContain(`${file} cannot be used:`)
  return (await banner.textContent()) ?? ''
}

const YAML_BOMB = `a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
items:
  - class: *i
  - class: Trouser
`

describe('bad input in the browser', () => {
  it('a CSV with the wrong columns: every row says which column is unknown', async () => {
    await go(page, 'generate')
    await drop(page, 'wrong-columns.csv', { text: 'colour,size\nred,3\nblue,4\n' })
    const rows = tid(page, 'batch-row')
    await expect.poll(() => rows.count()).toBe(2)
    for (let i = 0; i < 2; i++) {
      expect(await rows.nth(i).getAttribute('data-ok')).toBe('false')
      const why = (await rows.nth(i).locator('td.error-text').textContent()) ?? ''
      expect(why).toMatch(/unknown column "colour", "size"/)
      expect(why).toMatch(/no class or prompt/)
    }
    await expectRefused(page, 'wrong-columns.csv')
    await shot(page, 'bad-wrong-columns')
  }, 60_000)

  it('unknown classes: each row names the class it could not find', async () => {
    await drop(page, 'unknown.txt', { text: 'Dragon\nUnicorn\n' })
    const rows = tid(page, 'batch-row')
    await expect.poll(() => rows.allTextContents()).toHaveLength(2)
    await expect.poll(() => rows.first().locator('td.input').textContent()).toBe('Dragon')
    for (const [i, name] of ['Dragon', 'Unicorn'].entries()) {
      expect(await rows.nth(i).getAttribute('data-ok')).toBe('false')
      expect(await rows.nth(i).locator('td.error-text').textContent()).toMatch(
        new RegExp(`unknown class "${name}"\\..*Classes: T-shirt/top, Trouser`),
      )
    }
    await expectRefused(page, 'unknown.txt')
  }, 60_000)

  it('a file that is not UTF-8 is refused with what to do', async () => {
    const latin1 = Buffer.from('class,seed\nCaf\u00e9,1\nTrouser,2\n', 'latin1').toString('base64')
    await drop(page, 'latin1.csv', { base64: latin1 })
    expect(await fileError(page, 'latin1.csv')).toMatch(/is not UTF-8 text; save it as UTF-8/)
    expect(await tid(page, 'batch-row').count()).toBe(0)
    await expectRefused(page, 'latin1.csv')
    await shot(page, 'bad-not-utf8')
  }, 60_000)

  it('10 MB of junk, binary or text, is refused', async () => {
    const size = 10 * 1024 * 1024
    await drop(page, 'junk.csv', { random: size })
    expect(await fileError(page, 'junk.csv')).toMatch(/junk\.csv is (a binary file|not UTF-8 text)/)
    await expectRefused(page, 'junk.csv')
    await drop(page, 'junk.txt', { printable: size })
    expect(await fileError(page, 'junk.txt')).toMatch(/more than 10000 rows; split the file/)
    expect(await tid(page, 'batch-row').count()).toBe(0)
    await expectRefused(page, 'junk.txt')
  }, 120_000)

  it('a YAML bomb is stopped at the alias limit', async () => {
    await drop(page, 'bomb.yaml', { text: YAML_BOMB })
    expect(await fileError(page, 'bomb.yaml')).toMatch(/alias.*YAML aliases are limited to 100/i)
    expect(await tid(page, 'batch-row').count()).toBe(0)
    await expectRefused(page, 'bomb.yaml')
    await shot(page, 'bad-yaml-bomb')
  }, 60_000)

  it('a PNG is not a batch file, dropped or chosen', async () => {
    const png = await sharp({
      create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 30 } },
    })
      .png()
      .toBuffer()
    await drop(page, 'photo.png', { base64: png.toString('base64') })
    expect(await fileError(page, 'photo.png')).toMatch(/photo\.png is a PNG image, not a batch file/)
    await expectRefused(page, 'photo.png')
    // The same through the file chooser, even under a batch file's name.
    await tid(page, 'batch-file-input').setInputFiles({ name: 'rows.csv', mimeType: 'text/csv', buffer: png })
    expect(await fileError(page, 'rows.csv')).toMatch(/rows\.csv is a PNG image, not a batch file/)
    await expectRefused(page, 'rows.csv')
  }, 60_000)

  it('schema-failing payloads over the page WebSocket get error replies; no token, no socket', async () => {
    const before = problems.length
    const result = await page.evaluate(async () => {
      const g = globalThis as unknown as PageGlobals
      const token = new URLSearchParams(g.location.search).get('token') ?? ''
      const open = (url: string) =>
        new Promise<{ opened: boolean; replies: unknown[]; ws: ReturnType<typeof make> }>((done) => {
          const ws = make(url)
          const replies: unknown[] = []
          ws.onmessage = (e) => {
            const r = JSON.parse(String(e.data)) as { type: string }
            if (r.type !== 'event') replies.push(r)
          }
          ws.onopen = () => {
            done({ opened: true, replies, ws })
          }
          ws.onclose = () => {
            done({ opened: false, replies, ws })
          }
        })
      function make(url: string) {
        return new g.WebSocket(url)
      }
      const base = `ws://${g.location.host}/ws`
      const good = await open(`${base}?token=${encodeURIComponent(token)}`)
      good.ws.send('not json at all')
      good.ws.send(
        JSON.stringify({
          type: 'call',
          id: 7,
          channel: 'queue:add',
          args: {
            jobs: [
              { modelId: 'fashion-mnist-var-d4', items: [{ classId: -1, seed: 0 }], seedPolicy: 'fixed' },
            ],
          },
        }),
      )
      good.ws.send(
        JSON.stringify({
          type: 'call',
          id: 8,
          channel: 'batch:parse',
          args: { source: { kind: 'path', path: '/etc/passwd' }, modelId: 'fashion-mnist-var-d4' },
        }),
      )
      good.ws.send(JSON.stringify({ type: 'call', id: 9, channel: 'queue:get', args: {} }))
      const deadline = g.performance.now() + 10_000
      while (good.replies.length < 4 && g.performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 50))
      good.ws.close()
      const noToken = await open(base)
      const wrongToken = await open(`${base}?token=${encodeURIComponent(`${token}x`)}`)
      return { replies: good.replies, noToken: noToken.opened, wrongToken: wrongToken.opened }
    })
    expect(result.noToken).toBe(false)
    expect(result.wrongToken).toBe(false)
    // The browser logs the two refused handshakes (HTTP 401); nothing else went wrong on the page.
    expect(problems.splice(before)).toEqual([
      expect.stringMatching(
        /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws' failed: HTTP Authentication failed/,
      ),
      expect.stringMatching(
        /WebSocket connection to 'ws:\/\/127\.0\.0\.1:\d+\/ws\?token=[\w-]+x' failed: HTTP Authentication/,
      ),
    ])
    const byId = (id: number) =>
      result.replies.find((r) => (r as { id: number }).id === id) as Record<string, unknown>
    expect(byId(-1)).toMatchObject({
      type: 'error',
      error: { name: 'InvalidRequestError', message: expect.stringMatching(/not JSON/) as unknown },
    })
    expect(byId(7)).toMatchObject({
      type: 'error',
      error: { field: 'jobs.0.items.0.classId', message: expect.stringMatching(/must be >= 0/) as unknown },
    })
    // The web host reads uploads only: a path on the server is not read.
    expect(JSON.stringify(byId(8))).not.toContain('root:')
    expect(byId(8)).toMatchObject({
      type: 'result',
      result: { fileError: expect.stringMatching(/uploads only/) as unknown },
    })
    expect(byId(9)).toMatchObject({ type: 'result', result: { jobs: [] } })
    // The page's own connection is untouched.
    expect(await tid(page, 'connection-banner').count()).toBe(0)
    expect(await queuedJobs()).toBe(0)
  }, 60_000)

  it('the studio keeps working: a bad form value is caught, a normal generate succeeds', async () => {
    await fillGenerate(page, { classes: ['Trouser'], kind: 'baseline', seed: 5 })
    await tid(page, 'seed-input').fill('-3')
    await expect
      .poll(() => tid(page, 'form-issue').textContent())
      .toMatch(/seed: must be an integer in \[0, /)
    expect(await tid(page, 'generate-button').isDisabled()).toBe(true)
    await tid(page, 'seed-input').fill('5')
    const [jobId] = await queueBy(page, tid(page, 'generate-button'), 1)
    await waitForState(page, jobId, 'done')
    expect((await rpc(studio, 'history:list', {})).map((e) => [e.className, e.seed])).toEqual([
      ['Trouser', 5],
    ])
  }, 60_000)

  it('an export into a folder that cannot be written says so, and the next one works', async () => {
    // A file where the exports folder should be: nothing can be written under it (even as root).
    const blocker = join(studio.out, 'exports')
    await writeFile(blocker, 'not a folder')
    await go(page, 'export')
    await tid(page, 'export-image').first().check()
    await tid(page, 'export-rows').selectOption('class')
    await tid(page, 'export-columns').selectOption('seed')
    await tid(page, 'export-button').click()
    const banner = tid(page, 'error-banner')
    await expect
      .poll(() => banner.textContent())
      .toMatch(/Exporting the grid failed:.*The grid was not saved/)
    expect(await tid(page, 'export-result').count()).toBe(0)
    await shot(page, 'bad-export-folder')
    await rm(blocker)
    await banner.getByRole('button', { name: 'Dismiss' }).click()
    await tid(page, 'export-button').click()
    await tid(page, 'export-result').waitFor({ timeout: 30_000 })
    expect(await tid(page, 'export-result').textContent()).toMatch(/Wrote grid-.*\.png/)
    expect(await banner.count()).toBe(0)
    expect(problems).toEqual([])
  }, 60_000)
})
