import type { Settings } from '../../../src-shared/ipc'

const media = window.matchMedia('(prefers-color-scheme: dark)')

/** Sets `data-theme` on <html>; `system` follows the OS and keeps following it. */
export function applyTheme(theme: Settings['theme'] | undefined): void {
  const effective = theme === 'dark' || theme === 'light' ? theme : media.matches ? 'dark' : 'light'
  document.documentElement.dataset.theme = effective
}

export function onSystemThemeChange(listener: () => void): void {
  media.addEventListener('change', listener)
}
