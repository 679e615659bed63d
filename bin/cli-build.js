// The rwa command's build: src/ bundled by esbuild into dist/cli/<build>/ (gitignored), rebuilt
// before a run whenever a source it was built from changed, so the command runs plain JavaScript
// (no transform, no loader hooks) and never stale code, and a fresh clone needs no build step.
import { createHash } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const ENTRY = join(ROOT, 'src', 'cli', 'main.ts')
const OUT = join(ROOT, 'dist', 'cli')
/** Bump when the manifest's shape changes (an edit of this file makes builds stale anyway). */
const BUILD_FORMAT = 3
/** Builds kept besides the current one, for commands still running from them. */
const KEEP_BUILDS = 4
/** An older build is removed only once this old: a running node may still import its chunks. */
const PRUNE_AFTER_MS = 10 * 60_000

/**
 * The URL of the CLI's entry module, built from the current sources; undefined when it cannot be
 * built here (no esbuild, a read-only checkout), and the caller runs the sources through tsx.
 */
export async function builtCli() {
  const fresh = currentBuild()
  if (fresh) return pathToFileURL(join(OUT, fresh, 'main.js')).href
  try {
    return pathToFileURL(join(OUT, await build(), 'main.js')).href
  } catch {
    return undefined
  }
}

/** The current build's id when every source it was built from is unchanged (size and mtime). */
function currentBuild() {
  try {
    const id = readFileSync(join(OUT, 'current'), 'utf8').trim()
    const manifest = JSON.parse(readFileSync(join(OUT, id, 'manifest.json'), 'utf8'))
    if (manifest.format !== BUILD_FORMAT) return undefined
    // The build holds this checkout's absolute paths (import.meta.url of each source): a
    // checkout moved or copied with its dist/ builds anew.
    if (manifest.root !== ROOT) return undefined
    for (const [file, [mtimeMs, size]] of Object.entries(manifest.inputs)) {
      const stat = statSync(join(ROOT, file))
      if (stat.mtimeMs !== mtimeMs || stat.size !== size) return undefined
    }
    return id
  } catch {
    return undefined
  }
}

/** Stats of every file under `dir`, keyed by its path from the repository root. */
function statTree(dir, into = {}) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) statTree(path, into)
    else if (entry.isFile()) {
      const { mtimeMs, size } = statSync(path)
      into[relative(ROOT, path)] = [mtimeMs, size]
    }
  }
  return into
}

/**
 * Bundles the CLI into a new build directory, moved into place in one rename, and points
 * `current` at it. Processes building at once build the same sources into the same id; the first
 * rename wins and the others drop their copy. Sources are stated before they are read, so an edit
 * made during the build leaves the build stale, not wrong.
 */
async function build() {
  const esbuild = await loadEsbuild()
  const buildScript = statOf(relative(ROOT, fileURLToPath(import.meta.url)))
  const before = statTree(join(ROOT, 'src'))
  mkdirSync(OUT, { recursive: true })
  const tmp = join(OUT, `tmp-${process.pid}-${Date.now()}`)
  try {
    const result = await esbuild.build({
      entryPoints: { main: ENTRY },
      absWorkingDir: ROOT,
      outdir: tmp,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Read only under `node --enable-source-maps`: stack traces then name the .ts sources.
      sourcemap: 'linked',
      sourcesContent: false,
      metafile: true,
      logLevel: 'silent',
      plugins: [externalPackagesPlugin, sourceLocationPlugin],
    })
    // This file is an input too: a change of the build's options makes every build stale.
    const inputs = { [relative(ROOT, fileURLToPath(import.meta.url))]: buildScript }
    for (const input of Object.keys(result.metafile.inputs)) {
      // A bundled package is stale once npm replaced it: its package.json stands for it.
      const packageDir = /^((?:.*\/)?node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1]
      const file = relative(ROOT, resolve(ROOT, packageDir ? `${packageDir}/package.json` : input))
      // A source outside src/ (a bundled package) is stated now.
      inputs[file] ??= before[file] ?? statOf(file)
    }
    // esbuild reads these too (module type, compiler options) without naming them as inputs.
    for (const file of ['package.json', 'tsconfig.json'])
      if (existsSync(join(ROOT, file))) inputs[file] ??= statOf(file)
    const manifest = {
      format: BUILD_FORMAT,
      root: ROOT,
      esbuild: esbuild.version,
      inputs,
      chunks: bundledPackages(result.metafile),
    }
    const id = createHash('sha256').update(JSON.stringify(manifest)).digest('hex').slice(0, 16)
    writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(manifest))
    try {
      renameSync(tmp, join(OUT, id))
    } catch {
      // Another process built the same sources first.
      rmSync(tmp, { recursive: true, force: true })
    }
    const pointer = join(OUT, `current-${process.pid}`)
    writeFileSync(pointer, id)
    renameSync(pointer, join(OUT, 'current'))
    prune(id)
    return id
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true })
    throw error
  }
}

/** The npm package a path lies in, if any. */
function packageOf(path) {
  return /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1]
}

/** The packages bundled into each output file (tests check what a command loads with it). */
function bundledPackages(metafile) {
  const chunks = {}
  for (const [output, { inputs }] of Object.entries(metafile.outputs)) {
    const packages = new Set(Object.keys(inputs).map(packageOf).filter(Boolean))
    chunks[output.split('/').pop()] = [...packages].sort()
  }
  return chunks
}

function statOf(file) {
  const { mtimeMs, size } = statSync(join(ROOT, file))
  return [mtimeMs, size]
}

/** esbuild, installed as tsx's dependency (hoisted by npm, or found from tsx). */
async function loadEsbuild() {
  try {
    return await import('esbuild')
  } catch {
    const require = createRequire(createRequire(import.meta.url).resolve('tsx'))
    return require('esbuild')
  }
}

/**
 * Pure ES-module libraries bundled in: loading their hundreds of files one by one costs a
 * command more than parsing the few parts it uses. Every other package stays external, loaded
 * from node_modules as usual (native addons, packages that read their own files).
 */
const BUNDLED = /^(viem|ox|abitype|zod|@noble\/(curves|hashes)|@scure\/(base|bip32|bip39))(\/|$)/

const externalPackagesPlugin = {
  name: 'external-packages',
  setup(build) {
    build.onResolve({ filter: /^[^./]/ }, ({ path }) =>
      BUNDLED.test(path) ? undefined : { path, external: true },
    )
  },
}

/**
 * Gives each module its own source location: `import.meta.url`, `dirname` and `filename` keep
 * naming the file under src/, so paths relative to a source (package.json, contracts/) still
 * resolve from the bundle.
 */
const sourceLocationPlugin = {
  name: 'source-location',
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, ({ path }) => {
      const text = readFileSync(path, 'utf8')
      const values = {
        url: pathToFileURL(path).href,
        dirname: dirname(path),
        filename: path,
      }
      return {
        contents: text.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, key) =>
          JSON.stringify(values[key]),
        ),
        loader: 'ts',
      }
    })
  },
}

/** Removes builds beyond the newest few, once old enough that nothing still runs from them. */
function prune(current) {
  const now = Date.now()
  const builds = readdirSync(OUT, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== current)
    .map((entry) => {
      const path = join(OUT, entry.name)
      try {
        return { path, mtimeMs: statSync(path).mtimeMs }
      } catch {
        return { path, mtimeMs: now }
      }
    })
    .sort((a, b) => b.mtimeMs - a.mtimeMs)
  for (const [i, { path, mtimeMs }] of builds.entries())
    if (i >= KEEP_BUILDS && now - mtimeMs > PRUNE_AFTER_MS)
      rmSync(path, { recursive: true, force: true })
}
