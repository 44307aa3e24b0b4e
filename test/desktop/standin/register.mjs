/**
 * `node --import register.mjs out/main/main.js`: the built main process with the `electron`
 * stand-in in place of Electron's built-in module, for `import` and `require` alike.
 */
import Module, { register } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import './guards.mjs'

const electronFile = fileURLToPath(new URL('./electron.cjs', import.meta.url))
register('./hooks.mjs', import.meta.url, { data: { electronUrl: pathToFileURL(electronFile).href } })

const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  if (request === 'electron') return electronFile
  return resolveFilename.call(this, request, ...rest)
}
