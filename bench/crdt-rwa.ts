// replaced by the lead
import { replayPlain, type Trace } from '../test/fixtures/editing-trace.ts'

/** Replays the trace into rwa's JSON CRDT text (for now: a plain text replay). */
export function rwaTrace(trace: Trace): string {
  return replayPlain(trace)
}
