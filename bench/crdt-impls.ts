// The text CRDTs `bench/crdt-child.ts` can replay the editing trace into, each loaded only when
// asked for, so a child process holds one library alone.
import type { Trace } from '../test/fixtures/editing-trace.ts'

/** Replays a whole trace into one library's text, one transaction per edit; returns the text. */
export type TraceReplay = (trace: Trace) => string

/** The implementations by name: `rwa` (this project's JSON CRDT), `yjs`, `automerge`, `loro`. */
export const CRDT_IMPLS: Record<string, () => Promise<TraceReplay>> = {
  rwa: () => import('./crdt-rwa.ts').then((m) => m.rwaTrace),
  yjs: () => import('./crdt-others.ts').then((m) => m.loadYjsTrace()),
  automerge: () => import('./crdt-others.ts').then((m) => m.loadAutomergeTrace()),
  loro: () => import('./crdt-others.ts').then((m) => m.loadLoroTrace()),
}
