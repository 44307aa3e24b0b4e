/**
 * Reading the text of a PNG someone dropped or opened (PNG Info). The file is untrusted: every chunk
 * length is checked against what is left of the file before anything is allocated, every chunk's
 * CRC is checked, compressed text is inflated with a cap, and what is wrong is said in plain words
 * (`PngFileError`). Nothing here decodes pixels.
 */
import { crc32, inflateSync } from 'node:zlib'
import { StudioError } from '../../src-shared/errors'

/** The file cannot be read as a PNG; the message says why. */
export class PngFileError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'PngFileError'
  }
}

export const MAX_PNG_BYTES = 16 * 1024 * 1024
/** Text kept per chunk (A1111 parameters are a few kB); longer ones are cut, inflation stops here. */
export const MAX_TEXT_BYTES = 256 * 1024
const MAX_CHUNKS = 100_000

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

const OTHER_FORMATS: readonly [string, number[]][] = [
  ['a JPEG image', [0xff, 0xd8, 0xff]],
  ['a GIF image', [0x47, 0x49, 0x46, 0x38]],
  ['a WebP or other RIFF file', [0x52, 0x49, 0x46, 0x46]],
  ['a PDF document', [0x25, 0x50, 0x44, 0x46]],
  ['a ZIP archive', [0x50, 0x4b, 0x03, 0x04]],
]

export interface PngTextChunk {
  readonly type: 'tEXt' | 'zTXt' | 'iTXt'
  readonly keyword: string
  readonly text: string
  /** cut at MAX_TEXT_BYTES */
  readonly cut: boolean
}

export interface PngTexts {
  readonly width: number
  readonly height: number
  readonly texts: readonly PngTextChunk[]
  /** text chunks that were skipped, and why */
  readonly skipped: readonly string[]
}

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1')

function inflateCapped(data: Uint8Array): { bytes: Buffer; cut: boolean } {
  try {
    return { bytes: inflateSync(data, { maxOutputLength: MAX_TEXT_BYTES }), cut: false }
  } catch (error) {
    // Past the cap zlib refuses the whole output: say so rather than guess at a prefix.
    if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new RangeError(`its text inflates past ${MAX_TEXT_BYTES / 1024} KiB`, { cause: error })
    }
    throw new RangeError('its compressed text is damaged', { cause: error })
  }
}

function cut(bytes: Uint8Array): { bytes: Uint8Array; cut: boolean } {
  return bytes.length > MAX_TEXT_BYTES
    ? { bytes: bytes.subarray(0, MAX_TEXT_BYTES), cut: true }
    : { bytes, cut: false }
}

/** One text chunk's keyword and text; throws RangeError saying what is wrong with it. */
function textChunk(type: PngTextChunk['type'], data: Uint8Array): PngTextChunk {
  const nul = data.indexOf(0)
  if (nul < 1 || nul > 79) throw new RangeError('its keyword is missing or longer than 79 bytes')
  const keyword = latin1(data.subarray(0, nul))
  const rest = data.subarray(nul + 1)
  if (type === 'tEXt') {
    const t = cut(rest)
    return { type, keyword, text: latin1(t.bytes), cut: t.cut }
  }
  if (type === 'zTXt') {
    if (rest[0] !== 0) throw new RangeError('it names an unknown compression method')
    const t = inflateCapped(rest.subarray(1))
    return { type, keyword, text: latin1(t.bytes), cut: t.cut }
  }
  // iTXt: compression flag, method, language tag \0, translated keyword \0, UTF-8 text
  if (rest.length < 2 || rest[0] > 1) throw new RangeError('its header is damaged')
  const flag = rest[0]
  const method = rest[1]
  const langEnd = rest.indexOf(0, 2)
  const keyEnd = langEnd < 0 ? -1 : rest.indexOf(0, langEnd + 1)
  if (keyEnd < 0) throw new RangeError('its language tag or translated keyword is not terminated')
  const body = rest.subarray(keyEnd + 1)
  if (flag === 1 && method !== 0) throw new RangeError('it names an unknown compression method')
  const t = flag === 1 ? inflateCapped(body) : cut(body)
  return { type, keyword, text: Buffer.from(t.bytes).toString('utf8'), cut: t.cut }
}

/**
 * The size and text chunks (tEXt, zTXt, iTXt) of a PNG. Throws PngFileError, naming `name`, for a
 * file that is not a PNG, ends early, has a chunk longer than the file or fails a CRC; a text chunk
 * that is damaged inside is skipped with a note instead.
 */
export function readPngTexts(bytes: Uint8Array, name: string): PngTexts {
  if (bytes.length > MAX_PNG_BYTES) {
    throw new PngFileError(
      `${name} is ${(bytes.length / 2 ** 20).toFixed(1)} MiB; PNG Info reads up to 16 MiB`,
    )
  }
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) {
    const other = OTHER_FORMATS.find(([, magic]) => magic.every((b, i) => bytes[i] === b))
    if (other) throw new PngFileError(`${name} is ${other[0]}, not a PNG`)
    if (SIGNATURE.slice(1, 4).every((b, i) => bytes[i + 1] === b)) {
      throw new PngFileError(
        `${name} has a damaged PNG signature (line endings converted by a text transfer?)`,
      )
    }
    throw new PngFileError(`${name} is not a PNG image (it lacks the PNG signature)`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const texts: PngTextChunk[] = []
  const skipped: string[] = []
  let width = 0
  let height = 0
  let at = 8
  for (let n = 0; ; n++) {
    if (n >= MAX_CHUNKS)
      throw new PngFileError(`${name} has more than ${MAX_CHUNKS} chunks; it is not a usable PNG`)
    if (at + 12 > bytes.length) {
      throw new PngFileError(
        `${name} ends early (at byte ${bytes.length}, before its end chunk): the file is cut off`,
      )
    }
    const length = view.getUint32(at)
    const type = latin1(bytes.subarray(at + 4, at + 8))
    if (!/^[A-Za-z]{4}$/.test(type)) {
      throw new PngFileError(`${name} is damaged: byte ${at + 4} should start a chunk name`)
    }
    if (length > bytes.length - at - 12) {
      throw new PngFileError(
        `${name} is damaged or cut off: its ${type} chunk at byte ${at} claims ${length} bytes, more than the file has left`,
      )
    }
    const data = bytes.subarray(at + 8, at + 8 + length)
    const stored = view.getUint32(at + 8 + length)
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== stored) {
      throw new PngFileError(`${name} is damaged: its ${type} chunk at byte ${at} fails its checksum (CRC)`)
    }
    if (n === 0) {
      if (type !== 'IHDR' || length !== 13) {
        throw new PngFileError(`${name} is damaged: a PNG starts with its IHDR header chunk`)
      }
      width = view.getUint32(at + 8)
      height = view.getUint32(at + 12)
    }
    if (type === 'tEXt' || type === 'zTXt' || type === 'iTXt') {
      try {
        texts.push(textChunk(type, data))
      } catch (error) {
        skipped.push(`a ${type} chunk at byte ${at} was skipped: ${(error as Error).message}`)
      }
    }
    at += 12 + length
    if (type === 'IEND') break
  }
  return { width, height, texts, skipped }
}

/**
 * AUTOMATIC1111's `parameters` text read as A1111 reads it: the prompt lines, a `Negative prompt:`
 * line (and the lines after it), then a last line of `Key: value` pairs, where a value may be quoted
 * ("...") and hold commas. A last line with fewer than 3 pairs is part of the prompt.
 */
export interface ParsedParameters {
  readonly prompt: string
  readonly negative?: string
  readonly pairs: readonly { readonly key: string; readonly value: string }[]
}

const PAIR = /\s*([\w][\w \-/]*):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g

/** `Key: value, ...` pairs, quotes taken off quoted values. */
export function parsePairs(line: string): { key: string; value: string }[] {
  const out: { key: string; value: string }[] = []
  for (const m of line.matchAll(PAIR)) {
    const key = m[1].trim()
    let value = m[2].trim()
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      try {
        value = JSON.parse(value) as string
      } catch {
        value = value.slice(1, -1)
      }
    }
    out.push({ key, value })
  }
  return out
}

export function parseParameters(text: string): ParsedParameters {
  const lines = text.replace(/\r\n?/g, '\n').trim().split('\n')
  const last = lines.at(-1) ?? ''
  let pairs: { key: string; value: string }[] = []
  if (lines.length > 0) {
    const found = parsePairs(last)
    if (found.length >= 3) {
      pairs = found
      lines.pop()
    }
  }
  const negAt = lines.findIndex((l) => l.startsWith('Negative prompt:'))
  const promptLines = negAt < 0 ? lines : lines.slice(0, negAt)
  const negative =
    negAt < 0
      ? undefined
      : [lines[negAt].slice('Negative prompt:'.length), ...lines.slice(negAt + 1)].join('\n').trim()
  return { prompt: promptLines.join('\n').trim(), ...(negative !== undefined ? { negative } : {}), pairs }
}
