'use strict'
/**
 * Structured-clone semantics over the JSON that a playwright binding carries: typed arrays,
 * ArrayBuffers, Dates, undefined, Maps, Sets and Errors survive; a function, a symbol or a DOM node
 * throws "could not be cloned", as Electron's IPC does. `wireCodec` is self-contained: its source
 * is also sent into the page, so both sides use the same code.
 */
function wireCodec() {
  const TYPED = [
    'Int8Array',
    'Uint8Array',
    'Uint8ClampedArray',
    'Int16Array',
    'Uint16Array',
    'Int32Array',
    'Uint32Array',
    'Float32Array',
    'Float64Array',
    'BigInt64Array',
    'BigUint64Array',
  ]
  const toB64 = (bytes) => {
    if (typeof Buffer === 'function')
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
    let s = ''
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
    return btoa(s)
  }
  const fromB64 = (text) => {
    if (typeof Buffer === 'function') {
      const b = Buffer.from(text, 'base64')
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice()
    }
    const s = atob(text)
    const out = new Uint8Array(s.length)
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
    return out
  }
  function enc(value, seen) {
    if (value === undefined) return { $: 'u' }
    if (value === null || typeof value === 'boolean' || typeof value === 'string') return value
    if (typeof value === 'number') return Number.isFinite(value) ? value : { $: 'n', v: String(value) }
    if (typeof value === 'bigint') return { $: 'bi', v: value.toString() }
    if (typeof value === 'function' || typeof value === 'symbol')
      throw new Error('An object could not be cloned.')
    if (seen.has(value)) throw new Error('An object could not be cloned (a cycle).')
    seen.add(value)
    try {
      if (value instanceof Date) return { $: 'd', v: value.toISOString() }
      if (value instanceof ArrayBuffer) return { $: 'ab', v: toB64(new Uint8Array(value)) }
      const typed = TYPED.find((t) => typeof globalThis[t] === 'function' && value instanceof globalThis[t])
      if (typed)
        return {
          $: 't',
          k: typed,
          v: toB64(new Uint8Array(value.buffer, value.byteOffset, value.byteLength)),
        }
      if (value instanceof Error) return { $: 'e', name: value.name, message: value.message }
      if (value instanceof Map) return { $: 'm', v: [...value].map(([k, v]) => [enc(k, seen), enc(v, seen)]) }
      if (value instanceof Set) return { $: 's', v: [...value].map((v) => enc(v, seen)) }
      if (Array.isArray(value)) return value.map((v) => enc(v, seen))
      if (typeof Node === 'function' && value instanceof Node)
        throw new Error('An object could not be cloned.')
      const out = {}
      for (const key of Object.keys(value)) out[key] = enc(value[key], seen)
      return { $: 'o', v: out }
    } finally {
      seen.delete(value)
    }
  }
  function dec(value) {
    if (value === null || typeof value !== 'object') return value
    if (Array.isArray(value)) return value.map(dec)
    switch (value.$) {
      case 'u':
        return undefined
      case 'n':
        return Number(value.v)
      case 'bi':
        return BigInt(value.v)
      case 'd':
        return new Date(value.v)
      case 'ab':
        return fromB64(value.v).buffer
      case 't': {
        const bytes = fromB64(value.v)
        const Ctor = globalThis[value.k]
        return new Ctor(bytes.buffer, 0, bytes.byteLength / Ctor.BYTES_PER_ELEMENT)
      }
      case 'e': {
        const error = new Error(value.message)
        error.name = value.name
        return error
      }
      case 'm':
        return new Map(value.v.map(([k, v]) => [dec(k), dec(v)]))
      case 's':
        return new Set(value.v.map(dec))
      case 'o': {
        const out = {}
        for (const key of Object.keys(value.v)) out[key] = dec(value.v[key])
        return out
      }
      default:
        throw new Error(`unreadable wire value ${JSON.stringify(value).slice(0, 80)}`)
    }
  }
  return { encode: (value) => enc(value, new Set()), decode: dec }
}

const codec = wireCodec()
module.exports = { wireCodec, encode: codec.encode, decode: codec.decode }
