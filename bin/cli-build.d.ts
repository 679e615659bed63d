/** The URL of the CLI's entry module built from the current sources; undefined where it cannot be built. */
export function builtCli(): Promise<string | undefined>
