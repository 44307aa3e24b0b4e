/** Native menus with the usual roles, and the studio's own commands sent to the page as `menu:command`. */
import { app, Menu, type MenuItemConstructorOptions } from 'electron'
import type { IpcEventData } from '../../src-shared/ipc'

type Command = IpcEventData<'menu:command'>['command']

export interface MenuActions {
  readonly command: (command: Command) => void
  readonly openLogs: () => void
  readonly openOutput: () => void
}

export function installMenu(actions: MenuActions): void {
  const mac = process.platform === 'darwin'
  const send = (command: Command) => () => {
    actions.command(command)
  }
  const settings: MenuItemConstructorOptions = {
    label: 'Settings…',
    accelerator: 'CmdOrCtrl+,',
    click: send('settings'),
  }
  const template: MenuItemConstructorOptions[] = [
    ...(mac
      ? [
          {
            label: app.name,
            submenu: [
              { role: 'about' },
              { type: 'separator' },
              settings,
              { type: 'separator' },
              { role: 'services' },
              { type: 'separator' },
              { role: 'hide' },
              { role: 'hideOthers' },
              { role: 'unhide' },
              { type: 'separator' },
              { role: 'quit' },
            ],
          } satisfies MenuItemConstructorOptions,
        ]
      : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Batch File…', accelerator: 'CmdOrCtrl+O', click: send('open-batch') },
        { label: 'Open Output Folder', click: actions.openOutput },
        ...(mac ? [] : [{ type: 'separator' } as const, settings]),
        { type: 'separator' },
        mac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'Generate',
      submenu: [
        { label: 'Generate', accelerator: 'CmdOrCtrl+Enter', click: send('generate') },
        { label: 'Run Next', accelerator: 'CmdOrCtrl+Shift+Enter', click: send('run-next') },
      ],
    },
    { role: 'viewMenu' },
    { role: 'windowMenu' },
    { role: 'help', submenu: [{ label: 'Open Logs Folder', click: actions.openLogs }] },
  ]
  Menu.setApplicationMenu(Menu.buildFromTemplate(template))
}
