/**
 * The IDX format of the MNIST family (big-endian): magic 0x00000803 for unsigned-byte images, then
 * the count, rows and columns, then count * rows * cols bytes.
 */
import { StudioError } from '../errors'

export class IdxFormatError extends StudioError {
  constructor(message: string) {
    super(message)
    this.name = 'IdxFormatError'
  }
}

export interface IdxImages {
  readonly count: number
  readonly rows: number
  readonly cols: number
  /** `[count, rows, cols]`, one byte per pixel (0..255). */
  readonly pixels: Uint8Array
}

const IMAGES_MAGIC = 0x00000803

/** Parses an (already decompressed) idx3-ubyte file; every problem names what was expected. */
export function parseIdxImages(bytes: Uint8Array, what = 'IDX file'): IdxImages {
  if (bytes.length < 16) {
    throw new IdxFormatError(`${what}: ${bytes.length} bytes is too short for an IDX image header (16 bytes)`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const magic = view.getUint32(0, false)
  if (magic !== IMAGES_MAGIC) {
    throw new IdxFormatError(
      `${what}: magic number 0x${magic.toString(16).padStart(8, '0')} is not 0x00000803 (unsigned-byte images, 3 dimensions)`,
    )
  }
  const count = view.getUint32(4, false)
  const rows = view.getUint32(8, false)
  const cols = view.getUint32(12, false)
  if (count === 0 || rows === 0 || cols === 0) {
    throw new IdxFormatError(`${what}: empty image set (${count} images of ${rows}x${cols})`)
  }
  const expected = 16 + count * rows * cols
  if (bytes.length < expected) {
    throw new IdxFormatError(
      `${what}: truncated: header promises ${count} images of ${rows}x${cols} (${expected} bytes) but the file has ${bytes.length}`,
    )
  }
  return { count, rows, cols, pixels: bytes.subarray(16, expected) }
}

/** Bytes 0..255 to floats in [0, 1], the classifier's input range. */
export function toUnitFloats(pixels: Uint8Array): Float32Array<ArrayBuffer> {
  const out = new Float32Array(pixels.length)
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i] ?? 0) / 255
  return out
}
