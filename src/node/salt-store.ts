import { existsSync, readFileSync } from 'node:fs'
import { StoreCorruptError } from '../ledger/store.ts'
import { replaceSecretFile } from '../store/key-file.ts'

/** A commit–reveal secret: the answer committed to and its salt. */
export type Salt = { readonly answer: boolean; readonly salt: Uint8Array }

/** Salts kept for local accounts between their commit and their reveal. */
export type SaltStore = {
  get(key: string): Salt | undefined
  /** Records a salt durably (before its commitment is signed, so a crash cannot lose it). */
  set(key: string, salt: Salt): void
  delete(key: string): void
  keys(): string[]
}

/** Salts in memory only: for tests and throwaway nodes. */
export function memorySaltStore(): SaltStore {
  const salts = new Map<string, Salt>()
  return {
    get: (key) => salts.get(key),
    set: (key, salt) => void salts.set(key, salt),
    delete: (key) => void salts.delete(key),
    keys: () => [...salts.keys()],
  }
}

/**
 * Salts in a JSON file with mode 0600, rewritten through a temporary file and a rename on every
 * change, so a crash leaves either the old or the new file. Salts are secrets until revealed.
 */
export function fileSaltStore(path: string): SaltStore {
  const salts = new Map<string, Salt>()
  if (existsSync(path)) {
    try {
      const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<
        string,
        { answer: boolean; salt: string }
      >
      for (const [key, { answer, salt }] of Object.entries(raw))
        salts.set(key, { answer, salt: new Uint8Array(Buffer.from(salt, 'hex')) })
    } catch (cause) {
      throw new StoreCorruptError(path, 'it is not the JSON salt file rwa writes', { cause })
    }
  }
  const save = () => {
    const out: Record<string, { answer: boolean; salt: string }> = {}
    for (const [key, { answer, salt }] of salts)
      out[key] = { answer, salt: Buffer.from(salt).toString('hex') }
    // Durable before the commitment is signed: a lost salt makes the answer unrevealable.
    replaceSecretFile(path, JSON.stringify(out))
  }
  return {
    get: (key) => salts.get(key),
    set(key, salt) {
      salts.set(key, salt)
      save()
    },
    delete(key) {
      if (salts.delete(key)) save()
    },
    keys: () => [...salts.keys()],
  }
}
