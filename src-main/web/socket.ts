/**
 * The contract over a WebSocket: a call is `{ type: 'call', id, channel, args }`, answered by
 * `{ type: 'result', id, result }` or `{ type: 'error', id, error }`; events are pushed as
 * `{ type: 'event', event, data }`. A frame that is not a call (not JSON, binary, too large, wrong
 * shape) gets an error reply with id -1 (or the call's id when it has one) and the socket stays open.
 */
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { type RawData, WebSocket, WebSocketServer } from 'ws'
import { z } from 'zod'
import { InvalidRequestError } from '../../src-shared/errors'
import { wireCallSchema, type WireReply } from '../../src-shared/ipc'
import { issuesText } from '../../src-shared/protocol'
import { toIpcError } from '../app/errors'
import type { Studio } from '../app/studio'

/** Frames above this get an error reply; ws itself closes the socket above HARD_LIMIT. */
export const FRAME_LIMIT = 24 * 1024 * 1024
const HARD_LIMIT = 64 * 1024 * 1024
/** Calls one page may have in flight; more are answered with an error. */
const MAX_IN_FLIGHT = 64
/** A page that stops reading is dropped rather than buffering without bound. */
const MAX_BUFFERED = 64 * 1024 * 1024

const idOnly = z.object({ id: z.number().int().min(0) })

function errorReply(id: number, error: unknown): string {
  const reply: WireReply = { type: 'error', id, error: toIpcError(error) }
  return JSON.stringify(reply)
}

export interface SocketHost {
  /** Completes an upgrade that the caller has already authorised. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void
  close(): Promise<void>
}

export function createSocketHost(studio: Studio): SocketHost {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: HARD_LIMIT,
    perMessageDeflate: false,
    // Invalid UTF-8 then fails JSON.parse and gets an error reply instead of closing the socket.
    skipUTF8Validation: true,
  })
  const unsubscribe = studio.onAny((event, data) => {
    if (wss.clients.size === 0) return
    const text = JSON.stringify({ type: 'event', event, data } satisfies WireReply)
    for (const ws of wss.clients) send(ws, text)
  })

  function send(ws: WebSocket, text: string): void {
    if (ws.readyState !== WebSocket.OPEN) return
    if (ws.bufferedAmount > MAX_BUFFERED) {
      ws.close(1013, 'the page is not reading its messages; reload it')
      return
    }
    ws.send(text)
  }

  /** Answers a frame that is not a usable call with an error on `frame`; the socket stays open. */
  function refuseFrame(ws: WebSocket, id: number, message: string): void {
    send(ws, errorReply(id, new InvalidRequestError('frame', message)))
  }

  wss.on('connection', (ws) => {
    let inFlight = 0
    ws.on('message', (raw: RawData, isBinary: boolean) => {
      const size = Array.isArray(raw) ? raw.reduce((s, b) => s + b.length, 0) : raw.byteLength
      if (isBinary) {
        refuseFrame(ws, -1, 'Binary frames are not part of the protocol; send JSON text')
        return
      }
      if (size > FRAME_LIMIT) {
        refuseFrame(ws, -1, `A message of ${size} bytes is over the ${FRAME_LIMIT} byte limit`)
        return
      }
      const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw)
      const text = buf.toString('utf8')
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        refuseFrame(ws, -1, 'The message is not JSON; send { type: "call", id, channel, args }')
        return
      }
      const call = wireCallSchema.safeParse(json)
      if (!call.success) {
        const id = idOnly.safeParse(json)
        const { field, text: why } = issuesText(call.error)
        send(
          ws,
          errorReply(id.success ? id.data.id : -1, new InvalidRequestError(field, `Not a call: ${why}`)),
        )
        return
      }
      const { id, channel, args } = call.data
      if (inFlight >= MAX_IN_FLIGHT) {
        refuseFrame(ws, id, `More than ${MAX_IN_FLIGHT} calls in flight; wait for answers`)
        return
      }
      inFlight++
      studio
        .handle(channel, args)
        .then(
          (result) => {
            send(ws, JSON.stringify({ type: 'result', id, result } satisfies WireReply))
          },
          (error: unknown) => {
            send(ws, errorReply(id, error))
          },
        )
        .finally(() => inFlight--)
    })
    ws.on('error', () => {
      ws.terminate()
    })
  })

  return {
    upgrade(req, socket, head) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
    },
    async close() {
      unsubscribe()
      for (const ws of wss.clients) ws.close(1001, 'the studio is shutting down')
      await new Promise<void>((resolve) => {
        wss.close(() => {
          resolve()
        })
      })
    },
  }
}
