/**
 * PNG files of generated images: [C, H, W] floats in [0, 1] to 8-bit grayscale or RGB with sharp,
 * plus text chunks added afterwards (sharp drops tEXt): an AUTOMATIC1111-style `parameters` text
 * and an exact JSON copy of the settings.
 */
import extractChunks from 'png-chunks-extract'
import encodeChunks from 'png-chunks-encode'
import { decode as decodeText, encode as encodeText } from 'png-chunk-text'
import sharp from 'sharp'

/** Keyword of the JSON chunk. */
export const JSON_KEYWORD = 'var-studio'
/** Keyword AUTOMATIC1111 and the tools that read its files use. */
export const PARAMETERS_KEYWORD = 'parameters'

export interface RawImage {
  /** interleaved 8-bit pixels, `channels` per pixel */
  readonly data: Uint8Array
  readonly width: number
  readonly height: number
  readonly channels: 1 | 3
}

/** Planar floats [C, H, W] in [0, 1] to interleaved bytes (values outside [0, 1] are clamped). */
export function toRaw(pixels: Float32Array, channels: number, height: number, width: number): RawImage {
  if (channels !== 1 && channels !== 3) throw new RangeError(`images need 1 or 3 channels, got ${channels}`)
  const plane = height * width
  if (pixels.length !== channels * plane) {
    throw new RangeError(`${pixels.length} values for a ${channels}x${height}x${width} image`)
  }
  const data = new Uint8Array(channels * plane)
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < plane; i++) {
      const v = pixels[c * plane + i]
      data[i * channels + c] = Math.round(Math.min(1, Math.max(0, Number.isNaN(v) ? 0 : v)) * 255)
    }
  }
  return { data, width, height, channels }
}

/** Latin-1 only, as tEXt requires: anything else becomes '?'. */
export function latin1(text: string): string {
  let out = ''
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0
    out += code >= 1 && code <= 0xff ? ch : '?'
  }
  return out
}

/** JSON whose non-ASCII characters are written as \u escapes: still exact, and valid Latin-1. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/** Adds tEXt chunks just before IEND. */
export function addTextChunks(png: Uint8Array, entries: Readonly<Record<string, string>>): Buffer {
  const chunks = extractChunks(png)
  const text = Object.entries(entries).map(([keyword, value]) => encodeText(keyword, value))
  chunks.splice(chunks.length - 1, 0, ...text)
  return Buffer.from(encodeChunks(chunks))
}

/** The tEXt chunks of a PNG, by keyword. */
export function readTextChunks(png: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {}
  for (const chunk of extractChunks(png)) {
    if (chunk.name !== 'tEXt') continue
    const { keyword, text } = decodeText(chunk.data)
    out[keyword] = text
  }
  return out
}

export interface PngMetadata {
  /** AUTOMATIC1111-style text (prompt line, then `Key: value, ...`) */
  readonly parameters?: string
  /** exact settings, stored as JSON */
  readonly json?: unknown
}

/** Encodes raw pixels as PNG with optional metadata chunks. */
export async function encodePng(image: RawImage, metadata: PngMetadata = {}): Promise<Buffer> {
  const input = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength)
  let pipeline = sharp(input, { raw: { width: image.width, height: image.height, channels: image.channels } })
  // Without this sharp widens one channel to RGB; a grayscale PNG is a third the size.
  if (image.channels === 1) pipeline = pipeline.toColourspace('b-w')
  const png = await pipeline.png({ compressionLevel: 9 }).toBuffer()
  const entries: Record<string, string> = {}
  if (metadata.parameters !== undefined) entries[PARAMETERS_KEYWORD] = latin1(metadata.parameters)
  if (metadata.json !== undefined) entries[JSON_KEYWORD] = asciiJson(metadata.json)
  return Object.keys(entries).length > 0 ? addTextChunks(png, entries) : png
}

/** A PNG as a data URL, for the renderer's <img> (no file URLs cross the boundary). */
export function pngDataUrl(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`
}
