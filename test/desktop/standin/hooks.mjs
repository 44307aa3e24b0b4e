/** ES-module resolution for the app process: `electron` is the stand-in. */
let electronUrl = ''

export function initialize(data) {
  electronUrl = data.electronUrl
}

export async function resolve(specifier, context, next) {
  if (specifier === 'electron') return { url: electronUrl, format: 'commonjs', shortCircuit: true }
  return next(specifier, context)
}
