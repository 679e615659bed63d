import { JsonCrdt, ROOT } from '../src/core/json/crdt.ts'
import type { Trace } from '../test/fixtures/editing-trace.ts'

/** The last document replayed, kept so that the memory measured after the replay includes it. */
export let lastDocument: JsonCrdt | undefined

/**
 * Replays the trace into a text of rwa's JSON CRDT, each edit its own change (a local change by
 * position, committed under its own op id), and answers the text.
 */
export function rwaTrace(trace: Trace): string {
  const doc = new JsonCrdt()
  const first = doc.begin()
  first.set(ROOT, 'text', { $text: '' })
  first.commit('genesis')
  const text = (doc.get(ROOT, 'text') as { id: number }).id
  const { pos, del, ins } = trace
  for (let i = 0; i < trace.length; i++) {
    const change = doc.begin()
    change.splice(text, pos[i]!, del[i]!, ins[i]!)
    change.commit(`op-${i}`)
  }
  lastDocument = doc
  return doc.text(text)
}
