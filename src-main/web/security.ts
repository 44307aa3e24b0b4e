/**
 * What keeps the web host private to the person who started it: a random token (printed in the
 * URL, compared in constant time), Host and Origin checks (DNS rebinding and other sites' pages),
 * and a strict Content-Security-Policy with the usual security headers on every response.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

export function newToken(): string {
  return randomBytes(24).toString('base64url')
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/** Constant-time comparison; hashing first makes both sides the same length. */
export function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false
  return timingSafeEqual(digest(given), digest(token))
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])

/**
 * Host headers the server answers: the loopback names (or the bound address) with its port. Bound to
 * every interface, any name is accepted (the token still guards the API).
 */
export function hostAllowed(hostHeader: string | undefined, bound: string, port: number): boolean {
  if (bound === '0.0.0.0' || bound === '::') return true
  if (!hostHeader) return false
  const names = LOOPBACK.has(bound) || bound === '::1' ? LOOPBACK : new Set([bound, `[${bound}]`])
  const at = hostHeader.lastIndexOf(':')
  const name = at > 0 && !hostHeader.endsWith(']') ? hostHeader.slice(0, at) : hostHeader
  const hostPort = at > 0 && !hostHeader.endsWith(']') ? Number(hostHeader.slice(at + 1)) : 80
  return names.has(name.toLowerCase()) && hostPort === port
}

/** A browser always sends Origin on a WebSocket; it must be this page's own origin. */
export function originAllowed(req: IncomingMessage): boolean {
  const origin = req.headers.origin
  if (origin === undefined) return true // not a browser (a script that has the token)
  return origin === `http://${req.headers.host ?? ''}`
}

export function contentSecurityPolicy(host: string | undefined): string {
  const socket = host ? ` ws://${host}` : ''
  return [
    "default-src 'none'",
    "script-src 'self'",
    // Vue binds inline style attributes; no inline or eval'd script is allowed.
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    `connect-src 'self'${socket}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ')
}

export function setSecurityHeaders(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', contentSecurityPolicy(req.headers.host))
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.setHeader('X-Frame-Options', 'DENY')
  res.setHeader('Referrer-Policy', 'no-referrer')
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin')
  res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), usb=(), serial=()')
}
