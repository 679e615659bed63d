import { readFileSync, statSync } from 'node:fs'
import { replaceSecretFile } from '../../../store/key-file.ts'
import { ClientStateError } from './client-errors.ts'

// What a paying client remembers of each channel it pays a service from: the nonce and the
// amount it has authorised there (snet-cli keeps the same per channel). It can always be
// recovered from the service (GetChannelState), so losing it costs a request, never money.

/** A channel as the client last saw it at a service. */
export type ClientChannelState = {
  readonly nonce: bigint
  /** The cumulative amount signed at `nonce` and accepted by the service. */
  readonly authorised: bigint
}

/** Where a channel's state is kept: the service's origin, its escrow and the channel. */
export type ClientChannelKey = {
  readonly origin: string
  readonly escrow: string
  readonly channelId: bigint
}

/** A stored channel with its key and when it was last written (ms). */
export type StoredClientChannel = ClientChannelKey &
  ClientChannelState & { readonly updated: number }

/** The client's channel states. */
export interface ClientStateStore {
  get(key: ClientChannelKey): ClientChannelState | undefined
  put(key: ClientChannelKey, state: ClientChannelState): void
  /** Drops a channel's state at every service (after a timeout refund, or a state in doubt). */
  forget(escrow: string, channelId: bigint, origin?: string): void
  /** Every channel kept, the most recently used first. */
  list(): StoredClientChannel[]
}

/** Most channels kept: the oldest are dropped past it (they can be recovered). */
export const MAX_CLIENT_CHANNELS = 10_000
/** The largest state file read. */
const MAX_FILE_BYTES = 4 * 1024 * 1024

type Entry = {
  origin: string
  escrow: string
  channelId: string
  nonce: string
  authorised: string
  updated: number
}

const keyOf = (k: ClientChannelKey) => `${k.origin} ${k.escrow.toLowerCase()} ${k.channelId}`
const DECIMAL = /^[0-9]{1,78}$/

function isEntry(e: unknown): e is Entry {
  const x = e as Partial<Entry> | null
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.origin === 'string' &&
    typeof x.escrow === 'string' &&
    [x.channelId, x.nonce, x.authorised].every((v) => typeof v === 'string' && DECIMAL.test(v)) &&
    typeof x.updated === 'number'
  )
}

function toStored(e: Entry): StoredClientChannel {
  return {
    origin: e.origin,
    escrow: e.escrow,
    channelId: BigInt(e.channelId),
    nonce: BigInt(e.nonce),
    authorised: BigInt(e.authorised),
    updated: e.updated,
  }
}

/** A store over a map of entries, loaded and saved by the caller's functions. */
function entryStore(
  load: () => Map<string, Entry>,
  save: (entries: Map<string, Entry>) => void,
  now: () => number,
): ClientStateStore {
  return {
    get(key) {
      const e = load().get(keyOf(key))
      return e && { nonce: BigInt(e.nonce), authorised: BigInt(e.authorised) }
    },
    put(key, state) {
      const entries = load()
      entries.delete(keyOf(key))
      entries.set(keyOf(key), {
        origin: key.origin,
        escrow: key.escrow.toLowerCase(),
        channelId: key.channelId.toString(),
        nonce: state.nonce.toString(),
        authorised: state.authorised.toString(),
        updated: now(),
      })
      // Insertion order is use order: the first entries are the least recently written.
      for (const k of entries.keys()) {
        if (entries.size <= MAX_CLIENT_CHANNELS) break
        entries.delete(k)
      }
      save(entries)
    },
    forget(escrow, channelId, origin) {
      const entries = load()
      let changed = false
      for (const [k, e] of entries)
        if (
          e.escrow === escrow.toLowerCase() &&
          e.channelId === channelId.toString() &&
          (origin === undefined || e.origin === origin)
        )
          changed = entries.delete(k) || changed
      if (changed) save(entries)
    },
    list() {
      return [...load().values()].map(toStored).sort((a, b) => b.updated - a.updated)
    },
  }
}

/** A state store in memory (tests, benchmarks). */
export function memoryClientState({
  now = Date.now,
}: {
  now?: () => number
} = {}): ClientStateStore {
  let entries = new Map<string, Entry>()
  return entryStore(
    () => new Map(entries),
    (next) => {
      entries = new Map(next)
    },
    now,
  )
}

/**
 * A state store in a JSON file (mode 0600), read on every look so that several `rwa call`s see
 * each other's writes, and replaced atomically (a temporary file, flushed, renamed over).
 */
export function fileClientState({
  path,
  now = Date.now,
}: {
  path: string
  now?: () => number
}): ClientStateStore {
  return entryStore(
    () => readEntries(path),
    (entries) => writeEntries(path, entries),
    now,
  )
}

function readEntries(path: string): Map<string, Entry> {
  let text: string
  try {
    if (statSync(path).size > MAX_FILE_BYTES)
      throw new ClientStateError(
        `The channel state file "${path}" is over ${MAX_FILE_BYTES} bytes; delete it (states are recovered from the services).`,
      )
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return new Map()
    if (cause instanceof ClientStateError) throw cause
    throw new ClientStateError(
      `Cannot read the channel state file "${path}": ${(cause as Error).message}.`,
      { cause },
    )
  }
  let json: { version?: unknown; channels?: unknown }
  try {
    json = JSON.parse(text) as typeof json
  } catch (cause) {
    throw new ClientStateError(
      `The channel state file "${path}" is not JSON; delete it (states are recovered from the services).`,
      { cause },
    )
  }
  if (json?.version !== 1 || !Array.isArray(json.channels) || !json.channels.every(isEntry))
    throw new ClientStateError(
      `The channel state file "${path}" is not a version-1 list of channels; delete it (states are recovered from the services).`,
    )
  const entries = new Map<string, Entry>()
  for (const e of (json.channels as Entry[]).sort((a, b) => a.updated - b.updated))
    entries.set(keyOf({ ...e, channelId: BigInt(e.channelId) }), e)
  return entries
}

function writeEntries(path: string, entries: Map<string, Entry>): void {
  const content = `${JSON.stringify({ version: 1, channels: [...entries.values()] }, null, 1)}\n`
  try {
    replaceSecretFile(path, content)
  } catch (cause) {
    throw new ClientStateError(
      `Cannot write the channel state file "${path}": ${(cause as Error).message}.`,
      { cause },
    )
  }
}
