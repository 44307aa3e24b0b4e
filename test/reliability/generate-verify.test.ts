/**
 * `generate --model DIR` runs only weights whose sha256 matches the manifest (cached by size and
 * modification time, as `models verify`), or says that it did not check them (--no-verify).
 */
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../src-main/cli/main'
import { HostClient } from '../../src-main/host/client'
import { readManifest } from '../../src-main/storage/model-folder'
import { captureIo } from '../helpers/io'
import { copyModel } from '../host/model'

let copy: { dir: string; cleanup: () => Promise<void> }
beforeAll(async () => {
  copy = await copyModel()
})
afterAll(async () => {
  await copy.cleanup()
})

const sink = { write: () => undefined, isTTY: false }
const client = (): HostClient =>
  new HostClient({
    onLog: () => undefined,
    env: { ...process.env, VAR_STUDIO_HASH_CACHE: join(copy.dir, '..', 'sha256.json') },
  })

const run = async (...extra: string[]) => {
  const c = captureIo()
  const args = ['generate', '--model', copy.dir, '--class', '1', '--seed', '3', '--strategy', 'baseline']
  const code = await main([...args, '--out', join(copy.dir, '..', `out-${extra.length}`), ...extra], c.io, {
    progress: sink,
    createClient: client,
  })
  return { code, err: c.err.join('\n'), out: c.out }
}

describe('generate --model checks sha256', () => {
  it('runs a folder that matches, refuses one whose weights changed, and says when the check was skipped', async () => {
    expect((await run()).code).toBe(0)

    // one byte of the decoder's weights changed, same size: only the hash can tell
    const manifest = await readManifest(copy.dir)
    const file = manifest.graphs.vae_decode.file
    const handle = await open(join(copy.dir, file), 'r+')
    const byte = Buffer.alloc(1)
    await handle.read(byte, 0, 1, 200)
    await handle.write(Buffer.from([byte[0] ^ 0xff]), 0, 1, 200)
    await handle.close()

    const refused = await run()
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(
      new RegExp(
        `does not match its manifest \\(${file.replace('.', '\\.')}: .*sha256.*\\); nothing was generated`,
      ),
    )
    expect(refused.out).toEqual([])

    const skipped = await run('--no-verify')
    expect(skipped.err).toContain(`sha256 of ${copy.dir} not checked (--no-verify)`)
  }, 120_000)
})
