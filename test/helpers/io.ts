/** A CLI `io` sink that keeps what a command printed, for assertions. */
export function captureIo(): {
  out: string[]
  err: string[]
  io: { out: (l: string) => void; err: (l: string) => void }
} {
  const out: string[] = []
  const err: string[] = []
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } }
}
