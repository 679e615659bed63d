import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { dirname } from 'node:path'
import { type Signer, signerFromPrivateKey } from '../ledger/keys.ts'
import { KeyFileError } from './errors.ts'

/** Creates a new random Ed25519 signer (randomness from the operating system). */
export function generateSigner(): Signer {
  return signerFromPrivateKey(generateKeyPairSync('ed25519').privateKey)
}

/**
 * Writes `signer`'s private key to `path` as PKCS#8 PEM with mode 0600, never replacing an existing
 * file: the key is written to a private temporary file, flushed, then linked into place.
 * @throws KeyFileError when `path` exists or cannot be written.
 */
export function writeKeyFile(path: string, signer: Signer): void {
  const pem = signer.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temporary = `${path}.${process.pid}.tmp`
  let fd: number | undefined
  try {
    fd = openSync(temporary, 'wx', 0o600)
    writeSync(fd, pem)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    linkSync(temporary, path) // fails if path exists: a key is never overwritten
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code
    if (code === 'EEXIST')
      throw new KeyFileError(
        `Key file "${path}" already exists; it was left untouched. Choose another path.`,
        { cause },
      )
    throw new KeyFileError(`Cannot write key file "${path}": ${(cause as Error).message}.`, {
      cause,
    })
  } finally {
    if (fd !== undefined) closeSync(fd)
    try {
      unlinkSync(temporary)
    } catch {
      // Already gone: nothing to clean up.
    }
  }
}

/**
 * Reads an Ed25519 key file written by `writeKeyFile` (PKCS#8 PEM).
 * @throws KeyFileError when the file is missing, readable by group or others, or not an Ed25519 key.
 */
export function readKeyFile(path: string): Signer {
  let mode: number
  try {
    mode = statSync(path).mode
  } catch (cause) {
    throw new KeyFileError(
      `Key file "${path}" cannot be read: ${(cause as Error).message}; create one with "rwa key new ${path}".`,
      { cause },
    )
  }
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8)
    throw new KeyFileError(
      `Key file "${path}" has mode ${octal}, readable by others; run "chmod 600 ${path}" and check who may have copied it.`,
    )
  }
  try {
    return signerFromPrivateKey(createPrivateKey(readFileSync(path)))
  } catch (cause) {
    throw new KeyFileError(
      `Key file "${path}" does not hold an Ed25519 private key in PKCS#8 PEM form.`,
      { cause },
    )
  }
}
