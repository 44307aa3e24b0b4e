/**
 * `serve --keep-token`: the web host's token kept in the studio's home folder, so a bookmarked page
 * still connects after a restart. The file is the key to the studio, so it is created readable by
 * its owner only (0600) and refused (never read) when it is a link or not a regular file, or when
 * its group or others may read or write it; the message says how to fix it.
 */
import { constants } from 'node:fs'
import { lstat, open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { StudioError } from '../../src-shared/errors'
import { newToken } from './security'

export const TOKEN_FILE = 'web-token'

/** what newToken makes: 24 random bytes in base64url; a kept token must look the same */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,128}$/

export class TokenFileError extends StudioError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'TokenFileError'
  }
}

const checksModes = process.platform !== 'win32'

/** The kept token from `<home>/web-token`, made (0600) on first use. */
export async function keptToken(home: string): Promise<{ token: string; path: string; created: boolean }> {
  const path = join(home, TOKEN_FILE)
  const fix = `Delete it (a new one is made) or fix it: chmod 600 ${path}`
  let info
  try {
    info = await lstat(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TokenFileError(`Cannot read the kept token ${path}: ${(error as Error).message}`, {
        cause: error,
      })
    }
    return { token: await create(path), path, created: true }
  }
  if (!info.isFile()) {
    throw new TokenFileError(
      `The kept token ${path} is not a regular file (${info.isSymbolicLink() ? 'a link' : 'a folder or device'}); it was not used. Delete it and start again`,
    )
  }
  if (checksModes && (info.mode & 0o077) !== 0) {
    throw new TokenFileError(
      `The kept token ${path} may be read or changed by other users (mode ${(info.mode & 0o777).toString(8)}); it was not used. ${fix}`,
    )
  }
  if (checksModes && typeof process.getuid === 'function' && info.uid !== process.getuid()) {
    throw new TokenFileError(`The kept token ${path} belongs to another user; it was not used. ${fix}`)
  }
  // O_NOFOLLOW: a link swapped in after the check is not followed
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW)
  let text: string
  try {
    text = (await readFile(handle, 'utf8')).trim()
  } finally {
    await handle.close()
  }
  if (!TOKEN_PATTERN.test(text)) {
    throw new TokenFileError(`The kept token ${path} is not a token (damaged?); it was not used. ${fix}`)
  }
  return { token: text, path, created: false }
}

async function create(path: string): Promise<string> {
  const token = newToken()
  // O_EXCL: never through a file or link that appeared meanwhile; the mode is set at creation
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
  try {
    await handle.writeFile(`${token}\n`)
    await handle.chmod(0o600) // whatever the umask
  } finally {
    await handle.close()
  }
  return token
}
