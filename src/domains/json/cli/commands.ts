import type { Command } from 'commander'
import { type GlobalOptions, withNodeOptions } from '../../../cli/context.ts'
import type { CliPart } from '../../plugin.ts'

// `rwa doc …`: JSON documents through a node's `/json` routes. Registering loads nothing heavy:
// each action imports ./run.ts.

/** Options of every `rwa doc` command. */
export type DocOptions = GlobalOptions & { token?: string }

const DOC_HELP = `
Paths are JSON Pointers (RFC 6901): "/notes/0/body"; "" is the whole document.
In content, {"$text": "…"} makes a text (edited by many at once, character by character) and
{"$counter": n} a counter; anything else is plain JSON.

Examples:
  $ rwa doc create minutes --content minutes.json --editor <key>
  $ rwa doc get minutes /body
  $ rwa doc edit minutes /body
  $ echo '[{"op":"replace","path":"/title","value":"Minutes"}]' | rwa doc patch minutes -
  $ rwa doc watch minutes
  $ rwa doc editors minutes --audit roads`

/** `rwa doc list | create | get | patch | edit | watch | editors | history`. */
export const jsonCli: CliPart = {
  register(program) {
    addDocCommands(program)
  },
}

/** Adds `rwa doc …` to the program. */
export function addDocCommands(program: Command): void {
  const doc = program
    .command('doc')
    .description('JSON documents that several people edit at once (a BFT JSON CRDT)')
    .addHelpText('after', DOC_HELP)
  const run = () => import('./run.ts')
  cmd(doc, 'list', 'the JSON documents the node holds', 'list').action(async (o: DocOptions) =>
    (await run()).listDocs(o),
  )
  cmd(doc, 'create', 'start a document; you are its first editor', 'create minutes --content -')
    .argument('<name>', 'what the document is called')
    .option('--editor <key...>', 'Ed25519 public keys (hex) that may edit it too')
    .option('--audit <audit>', 'an audit (name or id) whose registered auditors may edit it')
    .option('--content <file>', 'its first content: a JSON object, from a file or - for stdin')
    .action(async (name: string, o: DocOptions & CreateFlags) => (await run()).createDoc(name, o))
  cmd(doc, 'get', 'print a document, or the value at a path (a text as it is)', 'get minutes /body')
    .argument('<doc>', "the document's name or id")
    .argument('[path]', 'a JSON Pointer into it', '')
    .action(async (ref: string, path: string, o: DocOptions) => (await run()).getDoc(ref, path, o))
  cmd(doc, 'patch', 'change a document with a JSON Patch (RFC 6902)', 'patch minutes change.json')
    .argument('<doc>', "the document's name or id")
    .argument('<file>', 'the JSON Patch: a file, or - for stdin')
    .action(async (ref: string, file: string, o: DocOptions) =>
      (await run()).patchDoc(ref, file, o),
    )
  cmd(
    doc,
    'edit',
    'edit the value at a path in $VISUAL or $EDITOR (else vi); on save, send what changed (a text as splices, rebased on edits made meanwhile)',
    'edit minutes /body',
  )
    .argument('<doc>', "the document's name or id")
    .argument('<path>', 'a JSON Pointer into it ("" for the whole document)')
    .action(async (ref: string, path: string, o: DocOptions) => (await run()).editDoc(ref, path, o))
  cmd(doc, 'watch', 'print each change of a document as it applies, one a line', 'watch minutes')
    .argument('<doc>', "the document's name or id")
    .action(async (ref: string, o: DocOptions) => (await run()).watchDoc(ref, o))
  cmd(
    doc,
    'editors',
    'list who may edit a document; as its owner, add and remove editors',
    'editors minutes --add <key> --remove <key>',
  )
    .argument('<doc>', "the document's name or id")
    .option('--add <key...>', 'Ed25519 public keys (hex) that may edit from now on')
    .option('--remove <key...>', 'Ed25519 public keys (hex) that may no longer edit')
    .option('--audit <audit>', 'an audit (name or id) whose registered auditors may edit too')
    .action(async (ref: string, o: DocOptions & EditorsFlags) => (await run()).editorsDoc(ref, o))
  cmd(doc, 'history', "a document's ops: author, time and edits of each", 'history minutes')
    .argument('<doc>', "the document's name or id")
    .action(async (ref: string, o: DocOptions) => (await run()).historyDoc(ref, o))
}

/** The flags of `rwa doc editors`. */
export type EditorsFlags = { add?: string[]; remove?: string[]; audit?: string }

/** The flags of `rwa doc create`. */
export type CreateFlags = { editor?: string[]; audit?: string; content?: string }

/** A subcommand with the node options, `--token`, a description and an example. */
function cmd(parent: Command, name: string, description: string, example: string): Command {
  return withNodeOptions(parent.command(name).description(description))
    .option('--token <file>', "bearer token file (default: the data dir's operator token)")
    .addHelpText('after', `\nExample:\n  $ rwa doc ${example}`)
}
