/**
 * numpy `.npz` files: a zip of `.npy` members, stored or deflated. Reads format versions 1, 2 and 3
 * of the `.npy` header, little-endian float32, float64 and uint8 arrays in C order (what
 * `np.savez` / `np.savez_compressed` write for the reference batches of the standard ImageNet
 * evaluators); writes stored (uncompressed) archives for our own caches. Every error names the file.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { crc32, inflateRawSync } from 'node:zlib'
import { StudioError } from '../../src-shared/errors'

export class NpzError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'NpzError'
  }
}

export type NpyData = Float32Array | Float64Array | Uint8Array

export interface NpyArray {
  readonly shape: readonly number[]
  readonly dtype: 'float32' | 'float64' | 'uint8'
  readonly data: NpyData
}

interface Member {
  readonly name: string
  readonly method: number
  readonly compressedSize: number
  readonly size: number
  readonly localOffset: number
}

const EOCD = 0x06054b50
const CENTRAL = 0x02014b50
const LOCAL = 0x04034b50

/** Finds the end-of-central-directory record (the comment after it is at most 65535 bytes). */
function endRecord(buf: Buffer, file: string): number {
  const stop = Math.max(0, buf.length - 22 - 0xffff)
  for (let at = buf.length - 22; at >= stop; at--) if (buf.readUInt32LE(at) === EOCD) return at
  if (buf.length >= 4 && buf.readUInt32LE(0) === LOCAL) {
    throw new NpzError(`${file}: truncated zip (no central directory at the end); download it again`)
  }
  throw new NpzError(`${file}: not an .npz file (not a zip archive)`)
}

function members(buf: Buffer, file: string): Map<string, Member> {
  const end = endRecord(buf, file)
  let count = buf.readUInt16LE(end + 10)
  let dirOffset = buf.readUInt32LE(end + 16)
  if (dirOffset === 0xffffffff || count === 0xffff) {
    // zip64: the locator sits just before the end record
    const loc = end - 20
    if (loc < 0 || buf.readUInt32LE(loc) !== 0x07064b50) throw new NpzError(`${file}: damaged zip64 record`)
    const rec = Number(buf.readBigUInt64LE(loc + 8))
    if (rec + 56 > buf.length || buf.readUInt32LE(rec) !== 0x06064b50) {
      throw new NpzError(`${file}: damaged zip64 record`)
    }
    count = Number(buf.readBigUInt64LE(rec + 32))
    dirOffset = Number(buf.readBigUInt64LE(rec + 48))
  }
  const out = new Map<string, Member>()
  let at = dirOffset
  for (let i = 0; i < count; i++) {
    if (at + 46 > buf.length || buf.readUInt32LE(at) !== CENTRAL) {
      throw new NpzError(`${file}: damaged zip central directory (entry ${i + 1} of ${count})`)
    }
    const method = buf.readUInt16LE(at + 10)
    let compressedSize = buf.readUInt32LE(at + 20)
    let size = buf.readUInt32LE(at + 24)
    const nameLen = buf.readUInt16LE(at + 28)
    const extraLen = buf.readUInt16LE(at + 30)
    const commentLen = buf.readUInt16LE(at + 32)
    let localOffset = buf.readUInt32LE(at + 42)
    const name = buf.toString('utf8', at + 46, at + 46 + nameLen)
    // zip64 extended sizes, in the order of the fields that hold 0xffffffff
    let x = at + 46 + nameLen
    const xEnd = x + extraLen
    while (x + 4 <= xEnd) {
      const id = buf.readUInt16LE(x)
      const len = buf.readUInt16LE(x + 2)
      if (id === 1) {
        let p = x + 4
        const next = (): number => {
          const v = Number(buf.readBigUInt64LE(p))
          p += 8
          return v
        }
        if (size === 0xffffffff) size = next()
        if (compressedSize === 0xffffffff) compressedSize = next()
        if (localOffset === 0xffffffff) localOffset = next()
      }
      x += 4 + len
    }
    out.set(name, { name, method, compressedSize, size, localOffset })
    at = xEnd + commentLen
  }
  return out
}

function memberBytes(buf: Buffer, m: Member, file: string): Buffer {
  const at = m.localOffset
  if (at + 30 > buf.length || buf.readUInt32LE(at) !== LOCAL) {
    throw new NpzError(`${file}: damaged zip entry ${m.name}`)
  }
  const start = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28)
  if (start + m.compressedSize > buf.length) {
    throw new NpzError(`${file}: truncated: member ${m.name} runs past the end of the file`)
  }
  const raw = buf.subarray(start, start + m.compressedSize)
  if (m.method === 0) return raw
  if (m.method === 8) {
    try {
      return inflateRawSync(raw)
    } catch (cause) {
      throw new NpzError(`${file}: member ${m.name} does not inflate (${(cause as Error).message})`, {
        cause,
      })
    }
  }
  throw new NpzError(`${file}: member ${m.name} uses zip method ${m.method}; only stored and deflated work`)
}

const DTYPES = { '<f4': 'float32', '<f8': 'float64', '|u1': 'uint8', '<u1': 'uint8' } as const

/** Parses one `.npy` file's bytes (header versions 1.0, 2.0 and 3.0). */
export function parseNpy(bytes: Uint8Array, where: string): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') {
    throw new NpzError(`${where}: not a .npy array (no \\x93NUMPY magic)`)
  }
  const major = buf.readUInt8(6)
  if (major < 1 || major > 3) throw new NpzError(`${where}: .npy format version ${major} is not supported`)
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8)
  const headerStart = major === 1 ? 10 : 12
  if (headerStart + headerLen > buf.length) throw new NpzError(`${where}: truncated .npy header`)
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', headerStart, headerStart + headerLen)
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1]
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1]
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1]
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpzError(`${where}: unreadable .npy header ${header.trim()}`)
  }
  if (fortran === 'True') {
    throw new NpzError(`${where}: stored in Fortran order; save it with np.ascontiguousarray (C order)`)
  }
  const dtype = (DTYPES as Record<string, NpyArray['dtype'] | undefined>)[descr]
  if (!dtype) {
    throw new NpzError(
      `${where}: dtype ${descr} is not supported (little-endian float32 <f4, float64 <f8 or uint8 |u1)`,
    )
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map(Number)
  if (shape.some((d) => !Number.isInteger(d) || d < 0))
    throw new NpzError(`${where}: bad shape (${shapeText})`)
  const count = shape.reduce((a, b) => a * b, 1)
  const width = dtype === 'float64' ? 8 : dtype === 'float32' ? 4 : 1
  const start = headerStart + headerLen
  if (buf.length - start < count * width) {
    throw new NpzError(
      `${where}: truncated: shape (${shape.join(', ')}) needs ${count * width} bytes, ${buf.length - start} present`,
    )
  }
  const body = new Uint8Array(count * width)
  body.set(buf.subarray(start, start + count * width)) // aligned copy
  const data =
    dtype === 'float64'
      ? new Float64Array(body.buffer)
      : dtype === 'float32'
        ? new Float32Array(body.buffer)
        : body
  return { shape, dtype, data }
}

/** An opened `.npz`: the member names, and each array parsed on request. */
export class NpzFile {
  private constructor(
    readonly file: string,
    private readonly buf: Buffer,
    private readonly entries: Map<string, Member>,
  ) {}

  static async open(file: string): Promise<NpzFile> {
    let buf: Buffer
    try {
      buf = await readFile(file)
    } catch (cause) {
      throw new NpzError(`${file}: cannot read (${(cause as Error).message})`, { cause })
    }
    return new NpzFile(file, buf, members(buf, file))
  }

  /** Array names (member names without `.npy`). */
  get names(): string[] {
    return [...this.entries.keys()].map((n) => n.replace(/\.npy$/, ''))
  }

  has(name: string): boolean {
    return this.entries.has(`${name}.npy`)
  }

  get(name: string): NpyArray {
    const m = this.entries.get(`${name}.npy`)
    if (!m)
      throw new NpzError(`${this.file}: no array "${name}" (it holds ${this.names.join(', ') || 'nothing'})`)
    const bytes = memberBytes(this.buf, m, this.file)
    if (bytes.length !== m.size) {
      throw new NpzError(`${this.file}: member ${m.name} holds ${bytes.length} bytes, ${m.size} expected`)
    }
    return parseNpy(bytes, `${this.file}: ${name}`)
  }
}

function npyBytes(a: NpyArray): Buffer {
  const descr = a.dtype === 'float64' ? '<f8' : a.dtype === 'float32' ? '<f4' : '|u1'
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`
  const pad = 64 - ((10 + header.length + 1) % 64)
  header = `${header}${' '.repeat(pad % 64)}\n`
  const head = Buffer.alloc(10)
  head.write('\x93NUMPY', 0, 'latin1')
  head[6] = 1
  head[7] = 0
  head.writeUInt16LE(header.length, 8)
  const body = Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body])
}

/** Writes arrays as a stored (uncompressed) `.npz` that numpy's `np.load` reads. */
export async function writeNpz(file: string, arrays: Record<string, NpyArray>): Promise<void> {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const [key, array] of Object.entries(arrays)) {
    const name = Buffer.from(`${key}.npy`, 'utf8')
    const data = npyBytes(array)
    if (data.length >= 0xffffffff || offset >= 0xffffffff) {
      throw new NpzError(`${file}: ${key} is too large for a plain zip`)
    }
    const crc = crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(LOCAL, 0)
    local.writeUInt16LE(20, 4)
    local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18)
    local.writeUInt32LE(data.length, 22)
    local.writeUInt16LE(name.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(CENTRAL, 0)
    central.writeUInt16LE(20, 4)
    central.writeUInt16LE(20, 6)
    central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20)
    central.writeUInt32LE(data.length, 24)
    central.writeUInt16LE(name.length, 28)
    central.writeUInt32LE(offset, 42)
    locals.push(local, name, data)
    centrals.push(central, name)
    offset += 30 + name.length + data.length
  }
  const dir = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(EOCD, 0)
  end.writeUInt16LE(Object.keys(arrays).length, 8)
  end.writeUInt16LE(Object.keys(arrays).length, 10)
  end.writeUInt32LE(dir.length, 12)
  end.writeUInt32LE(offset, 16)
  await writeFile(file, Buffer.concat([...locals, dir, end]))
}
