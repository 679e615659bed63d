import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { DevnetError } from './errors.ts'

/** A running anvil: its RPC URL and chain id; `stop()` ends it. */
export type Devnet = {
  readonly rpcUrl: string
  readonly chainId: number
  stop(): Promise<void>
}

/**
 * The anvil binary from the `@foundry-rs/anvil-<platform>-<arch>` npm package, the platform
 * package of `@foundry-rs/anvil` (nothing is downloaded at run time). rwa depends on the Linux x64
 * one directly, as an optional dependency: the registry this project installs from lacks the
 * other platforms' packages, which would make `npm ci` fail if the wrapper package were used.
 */
export function anvilBinary(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch
  const name = `@foundry-rs/anvil-${process.platform}-${arch}`
  try {
    const require = createRequire(import.meta.url)
    return join(dirname(require.resolve(`${name}/package.json`)), 'bin', 'anvil')
  } catch (cause) {
    throw new DevnetError(
      `The anvil binary for ${process.platform}-${process.arch} (${name}) is not installed; run "npm ci" (on Linux x64), "npm install --no-save ${name}" elsewhere, or start the node with --rpc-url or --no-chain.`,
      { cause },
    )
  }
}

/** Stops the anvil a killed node left running (only if that pid is still an anvil). */
function stopLeftover(pidFile: string): void {
  if (!existsSync(pidFile)) return
  const pid = Number(readFileSync(pidFile, 'utf8').trim())
  rmSync(pidFile, { force: true })
  if (!Number.isInteger(pid) || pid <= 0) return
  try {
    const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    if (command.includes('anvil')) process.kill(pid, 'SIGTERM')
  } catch {
    // Gone already, or no /proc here: nothing to stop.
  }
}

/** A free TCP port on the loopback interface (for servers started by the node or the tests). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function rpcReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    })
    return response.ok
  } catch {
    return false
  }
}

/**
 * Starts anvil on a free loopback port (or `port`), with `chainId`, and waits until it answers.
 * Its state lives in memory; `stateFile` keeps it across restarts (`--state`).
 * @example
 * const devnet = await startDevnet()
 * const client = createPublicClient({ transport: http(devnet.rpcUrl) })
 */
export async function startDevnet({
  port,
  chainId = 31337,
  stateFile,
  pidFile,
}: {
  port?: number
  chainId?: number
  stateFile?: string | undefined
  /** Where anvil's pid is kept, so an anvil left behind by a killed node is stopped first. */
  pidFile?: string | undefined
} = {}): Promise<Devnet> {
  if (pidFile) stopLeftover(pidFile)
  const chosen = port ?? (await freePort())
  const args = ['--host', '127.0.0.1', '--port', String(chosen), '--chain-id', String(chainId)]
  if (stateFile) args.push('--state', stateFile)
  const child: ChildProcess = spawn(anvilBinary(), args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000)
  })
  const rpcUrl = `http://127.0.0.1:${chosen}`
  if (pidFile && child.pid) writeFileSync(pidFile, `${child.pid}\n`)
  for (let i = 0; i < 200; i++) {
    if (await rpcReady(rpcUrl)) {
      return {
        rpcUrl,
        chainId,
        async stop() {
          if (child.exitCode !== null) return
          const exited = new Promise((r) => child.once('exit', r))
          child.kill('SIGTERM')
          await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
          if (child.exitCode === null) child.kill('SIGKILL')
          if (pidFile) rmSync(pidFile, { force: true })
        },
      }
    }
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new DevnetError(`anvil did not start on port ${chosen}: ${stderr.trim() || 'no output'}`)
}
