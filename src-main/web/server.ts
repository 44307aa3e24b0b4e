/**
 * The web host: the built renderer and the studio's contract over a WebSocket at `/ws`, on
 * 127.0.0.1 by default. Only a page or script holding the token printed in the URL can connect.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Studio } from '../app/studio'
import { hostAllowed, newToken, originAllowed, setSecurityHeaders, tokenMatches } from './security'
import { createSocketHost } from './socket'
import { serveStatic } from './static'

export interface WebHostOptions {
  readonly studio: Studio
  /** the built renderer (out/renderer) */
  readonly rendererDir: string
  readonly host?: string
  /** 0 picks a free port */
  readonly port?: number
  /** for tests; a fresh random token by default */
  readonly token?: string
}

export interface WebHost {
  readonly url: string
  readonly port: number
  readonly host: string
  readonly token: string
  close(): Promise<void>
}

function refuse(socket: Duplex, status: number, reason: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length}\r\n\r\n${reason}`,
  )
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(error)
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : port)
    })
  })
}

export async function startWebHost(options: WebHostOptions): Promise<WebHost> {
  const host = options.host ?? '127.0.0.1'
  const token = options.token ?? newToken()
  const sockets = createSocketHost(options.studio)
  let port = 0
  const server = createServer((req, res) => {
    setSecurityHeaders(req, res)
    if (!hostAllowed(req.headers.host, host, port)) {
      res.writeHead(421, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Unknown host name\n')
      return
    }
    // Lets a page whose socket keeps closing tell a wrong token from a host that is down.
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === '/api/token') {
      const ok = tokenMatches(url.searchParams.get('token'), token)
      res.writeHead(ok ? 204 : 401, { 'Cache-Control': 'no-store' }).end()
      return
    }
    void serveStatic(req, res, options.rendererDir).catch(() => res.destroy())
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy())
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname !== '/ws') {
      refuse(socket, 404, 'Not Found')
      return
    }
    if (!hostAllowed(req.headers.host, host, port)) {
      refuse(socket, 421, 'Misdirected Request')
      return
    }
    if (!originAllowed(req)) {
      refuse(socket, 403, 'Forbidden')
      return
    }
    if (!tokenMatches(url.searchParams.get('token'), token)) {
      refuse(socket, 401, 'Unauthorized')
      return
    }
    sockets.upgrade(req, socket, head)
  })
  // Sockets of the page and of keep-alive requests would otherwise hold close() open.
  server.keepAliveTimeout = 5000
  port = await listen(server, options.port ?? 0, host)
  const shown = host.includes(':') ? `[${host}]` : host
  return {
    url: `http://${shown}:${port}/?token=${token}`,
    port,
    host,
    token,
    async close() {
      await sockets.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve()
        }),
      )
    },
  }
}
