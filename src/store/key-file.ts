import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { dirname } from 'node:path'
import type { Hex } from 'viem'
import { BaseError } from '../errors/base.ts'
import { type Signer, signerFromPrivateKey } from '../ledger/keys.ts'

/** Thrown when a key file is missing, unreadable, malformed or readable by others. */
export class KeyFileError extends BaseError {
  override name = 'KeyFileError' as const
  override readonly kind = 'invalid' as const
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options)
  }
}

/** Creates a new random Ed25519 signer (randomness from the operating system). */
export function generateSigner(): Signer {
  return signerFromPrivateKey(generateKeyPairSync('ed25519').privateKey)
}

/**
 * Writes `signer`'s private key to `path` as PKCS#8 PEM with mode 0600, never replacing an existing
 * file.
 * @throws KeyFileError when `path` exists or cannot be written.
 */
export function writeKeyFile(path: string, signer: Signer): void {
  writeSecretFile(path, signer.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
}

/**
 * Writes a secret (a key or a token) to `path` with mode 0600, never replacing an existing file:
 * it is written to a private temporary file, flushed, then linked into place.
 * @throws KeyFileError when `path` exists or cannot be written.
 */
export function writeSecretFile(path: string, content: string): void {
  placeSecret(path, content, (temporary) => {
    linkSync(temporary, path) // fails if path exists: a secret is never overwritten
    unlinkSync(temporary)
  })
}

/**
 * Replaces the secret file at `path` (mode 0600) so that a crash leaves either the old content
 * or the new, both on disk: written to a temporary file, flushed, renamed over, and the
 * directory flushed.
 * @throws KeyFileError when it cannot be written.
 */
export function replaceSecretFile(path: string, content: string): void {
  placeSecret(path, content, (temporary) => renameSync(temporary, path))
}

/** Writes `content` to a private temporary file beside `path`, flushed, and lets `place` put it. */
function placeSecret(path: string, content: string, place: (temporary: string) => void): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temporary = `${path}.${process.pid}.tmp`
  let fd: number | undefined
  try {
    // 'w': the name is this process's own and the write synchronous, so a file there is a
    // leftover of a crashed process that had the same pid.
    fd = openSync(temporary, 'w', 0o600)
    fchmodSync(fd, 0o600) // a leftover keeps its old mode
    writeSync(fd, content)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    place(temporary)
    syncDirectory(dirname(path))
  } catch (cause) {
    if (fd !== undefined) closeSync(fd)
    try {
      unlinkSync(temporary)
    } catch {
      // Already placed, or never made.
    }
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST' && existsSync(path))
      throw new KeyFileError(
        `Key file "${path}" already exists; it was left untouched. Choose another path.`,
        { cause },
      )
    throw new KeyFileError(`Cannot write key file "${path}": ${(cause as Error).message}.`, {
      cause,
    })
  }
}

/** Flushes a directory's entries (a new or renamed file in it) to disk. */
function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/**
 * Reads a secret file, refusing one that group or others may read. `hint` follows "check the
 * path" when the file is missing (how to make one).
 * @throws KeyFileError when the file is missing or readable by others.
 */
export function readSecretFile(path: string, hint = ''): string {
  let mode: number
  try {
    mode = statSync(path).mode
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT')
      throw new KeyFileError(`Key file "${path}" does not exist; check the path${hint}.`, {
        cause,
      })
    throw new KeyFileError(`Key file "${path}" cannot be read: ${(cause as Error).message}.`, {
      cause,
    })
  }
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8)
    throw new KeyFileError(
      `Key file "${path}" has mode ${octal}, readable by others; run "chmod 600 ${path}" and check who may have copied it.`,
    )
  }
  return readFileSync(path, 'utf8')
}

/**
 * Reads an Ed25519 key file written by `writeKeyFile` (PKCS#8 PEM).
 * @throws KeyFileError when the file is missing, readable by group or others, or not an Ed25519 key.
 */
export function readKeyFile(path: string): Signer {
  let pem: string
  try {
    pem = readSecretFile(path)
  } catch (error) {
    if (error instanceof KeyFileError && !existsSync(path))
      throw new KeyFileError(
        `Key file "${path}" cannot be read: it does not exist; create one with "rwa key new ${path}".`,
        { cause: error },
      )
    throw error
  }
  try {
    return signerFromPrivateKey(createPrivateKey(pem))
  } catch (cause) {
    throw new KeyFileError(
      `Key file "${path}" does not hold an Ed25519 private key in PKCS#8 PEM form.`,
      { cause },
    )
  }
}

/** Writes an Ethereum private key (`0x` + 64 hex digits) to `path` with mode 0600. */
export function writeEthKeyFile(path: string, privateKey: Hex): void {
  writeSecretFile(path, `${parseEthPrivateKey(privateKey, path)}\n`)
}

/** Reads an Ethereum private key file written by `writeEthKeyFile`. */
export function readEthKeyFile(path: string): Hex {
  return parseEthPrivateKey(
    readSecretFile(path, ' (a new Ethereum key: rwa key new-eth <file>)').trim(),
    path,
  )
}

/** Checks an Ethereum private key's form: `0x` and 64 hex digits (the `0x` may be left out). */
export function parseEthPrivateKey(text: string, source: string): Hex {
  const key = text.startsWith('0x') ? text : `0x${text}`
  if (!/^0x[0-9a-fA-F]{64}$/.test(key))
    throw new KeyFileError(
      `"${source}" does not hold an Ethereum private key (0x and 64 hex digits).`,
    )
  return key.toLowerCase() as Hex
}
