// The editing trace replayed into the text types of other CRDT libraries, one transaction per
// edit, as a user typing would produce: the figures the JSON CRDT is measured beside. Each library
// is imported only by its own loader (Automerge and Loro each add about 20 MB of RSS on import), so
// a child process measuring one library does not carry the others.
import type { Trace } from '../test/fixtures/editing-trace.ts'
import type { TraceReplay } from './crdt-impls.ts'

/** Throws unless a replay produced the trace's final text. */
export function assertEndContent(library: string, trace: Trace, text: string): string {
  if (text !== trace.endContent)
    throw new Error(
      `${library} replay ended with ${text.length} characters, not the trace's ${trace.endContent.length}.`,
    )
  return text
}

/** Loads Yjs; its replay applies each edit to a Y.Text in its own `doc.transact`. */
export async function loadYjsTrace(): Promise<TraceReplay> {
  const Y = await import('yjs')
  return function yjsTrace(trace: Trace): string {
    const doc = new Y.Doc()
    const text = doc.getText('text')
    const { pos, del, ins } = trace
    for (let i = 0; i < trace.length; i++) {
      doc.transact(() => {
        if (del[i]! > 0) text.delete(pos[i]!, del[i]!)
        if (ins[i] !== '') text.insert(pos[i]!, ins[i]!)
      })
    }
    return assertEndContent('Yjs', trace, text.toString())
  }
}

/** Loads Automerge; its replay applies each edit as one `A.change` holding one `A.splice`. */
export async function loadAutomergeTrace(): Promise<TraceReplay> {
  const A = await import('@automerge/automerge')
  return function automergeTrace(trace: Trace): string {
    let doc = A.from<{ text: string }>({ text: '' })
    const { pos, del, ins } = trace
    for (let i = 0; i < trace.length; i++)
      doc = A.change(doc, (d) => A.splice(d, ['text'], pos[i]!, del[i]!, ins[i]!))
    return assertEndContent('Automerge', trace, doc.text)
  }
}

/** Loads Loro; its replay applies each edit to a LoroText and `commit()`s it on its own. */
export async function loadLoroTrace(): Promise<TraceReplay> {
  const { LoroDoc } = await import('loro-crdt')
  return function loroTrace(trace: Trace): string {
    const doc = new LoroDoc()
    const text = doc.getText('text')
    const { pos, del, ins } = trace
    for (let i = 0; i < trace.length; i++) {
      if (del[i]! > 0) text.delete(pos[i]!, del[i]!)
      if (ins[i] !== '') text.insert(pos[i]!, ins[i]!)
      doc.commit()
    }
    return assertEndContent('Loro', trace, text.toString())
  }
}
