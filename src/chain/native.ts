/** Native ETH in the escrow's token fields (apart from escrow.ts, which loads viem, for the CLI). */
export const NATIVE = '0x0000000000000000000000000000000000000000' as const
