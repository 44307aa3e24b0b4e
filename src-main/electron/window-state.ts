/** The main window's size, position and maximised state, kept in `<home>/window-state.json`. */
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type BrowserWindow, type Rectangle, screen } from 'electron'
import { z } from 'zod'

const stateSchema = z.object({
  x: z.number().int(),
  y: z.number().int(),
  width: z.number().int().min(400),
  height: z.number().int().min(300),
  maximized: z.boolean().default(false),
})
type WindowState = z.infer<typeof stateSchema>

const DEFAULT = { width: 1280, height: 820 }

/** The saved bounds when they still fall on a connected display; otherwise the default size. */
export function loadWindowState(home: string): Partial<Rectangle> & { maximized: boolean } {
  try {
    const s = stateSchema.parse(JSON.parse(readFileSync(join(home, 'window-state.json'), 'utf8')))
    const area = screen.getDisplayMatching(s).workArea
    const visible =
      s.x < area.x + area.width &&
      s.x + s.width > area.x &&
      s.y < area.y + area.height &&
      s.y + s.height > area.y
    return visible ? s : { ...DEFAULT, maximized: s.maximized }
  } catch {
    return { ...DEFAULT, maximized: false }
  }
}

/** Saves the window's state a moment after it stops moving, and when it closes. */
export function trackWindowState(win: BrowserWindow, home: string): void {
  let timer: NodeJS.Timeout | undefined
  const save = (): void => {
    if (win.isDestroyed()) return
    const state: WindowState = { ...win.getNormalBounds(), maximized: win.isMaximized() }
    void writeFile(join(home, 'window-state.json'), JSON.stringify(state)).catch(() => undefined)
  }
  const later = (): void => {
    clearTimeout(timer)
    timer = setTimeout(save, 500)
  }
  for (const event of ['resize', 'move', 'maximize', 'unmaximize'] as const) win.on(event as 'resize', later)
  win.on('close', () => {
    clearTimeout(timer)
    save()
  })
}
