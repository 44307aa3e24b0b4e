import { spawnSync } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HomeInUseError } from '../../src-main/app/home-lock'
import { call, openStudio, tempHome } from './studio-helpers'

let home: string
let cleanup: () => Promise<void>

beforeAll(async () => {
  ;({ home, cleanup } = await tempHome('home-lock'))
})
afterAll(async () => {
  await cleanup()
})

describe('one studio per home folder', () => {
  it('refuses a second studio on the same folder, naming the process, and frees it on close', async () => {
    const first = await openStudio(home)
    const lock = JSON.parse(await readFile(join(home, 'studio.lock'), 'utf8')) as { pid: number }
    expect(lock.pid).toBe(process.pid)
    // the lock of a live process other than this one, as another studio would leave it
    const other = spawnSync(process.execPath, ['-e', 'setTimeout(() => {}, 0)']).pid
    expect(other).toBeGreaterThan(0)
    await first.close()

    await writeFile(join(home, 'studio.lock'), JSON.stringify({ pid: process.ppid }))
    const refused = await openStudio(home).catch((e: unknown) => e)
    expect(refused).toBeInstanceOf(HomeInUseError)
    expect((refused as Error).message).toContain(`process ${process.ppid}`)
    expect((refused as Error).message).toMatch(/another home folder \(--home, or VAR_STUDIO_HOME\)/)

    // a lock left by a process that has exited is taken over
    await writeFile(join(home, 'studio.lock'), JSON.stringify({ pid: other }))
    const again = await openStudio(home)
    expect((await call(again, 'settings:get', {})).theme).toBe('system')
    await again.close()
    await expect(readFile(join(home, 'studio.lock'), 'utf8')).rejects.toThrow(/ENOENT/)
  })

  it('keeps the output folder when the new one cannot hold the history, and refuses relative paths', async () => {
    const studio = await openStudio(home)
    try {
      const blocked = join(home, 'blocked')
      await mkdir(blocked)
      await writeFile(join(blocked, 'history'), 'a file where the history folder would go')
      await expect(call(studio, 'settings:set', { outputDir: blocked })).rejects.toThrow(/history/)
      expect((await call(studio, 'settings:get', {})).outputDir).toBe('')
      await expect(call(studio, 'settings:set', { outputDir: 'relative/out' })).rejects.toThrow(
        /"relative\/out" is not a full path/,
      )
      const fine = join(home, 'elsewhere')
      expect((await call(studio, 'settings:set', { outputDir: fine })).outputDir).toBe(fine)
      expect((await call(studio, 'app:info', {})).outputDir).toBe(fine)
    } finally {
      await studio.close()
    }
  })
})
