import type { Account, Chain, Hex, PublicClient, Transport, WalletClient } from "viem";
import { type ChainSender, chainSenderFor } from "./chain-sender.js";
import type { Metrics } from "./metrics.js";

export type SubmitterParameters = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  /** The key's one sender (default: the one chainSenderFor gives for these clients). */
  sender?: ChainSender;
  /** The contract the transaction calls. */
  to: Hex;
  metrics: Pick<Metrics, "feeBumps">;
  /** A transaction not mined after this long is sent again with higher fees (default 60 s). */
  stuckAfterMs?: number;
  /** Fee increase per replacement, percent (default 20; nodes require at least 10). */
  feeBumpPercent?: number;
  maxBumps?: number;
  receiptPollMs?: number;
  onFeeBump?: (label: string, maxFeePerGas: bigint) => void;
};

/**
 * Send a transaction with EIP-1559 fees through the key's one sender (chain-sender.ts: the nonce
 * is the key's next, shared with every other transaction of the key); if it is not mined within
 * `stuckAfterMs`, send it again with the same nonce and fees raised by `bumpPercent` (nodes accept
 * a replacement from +10%), up to `maxBumps` times. Whichever of the transactions is mined first
 * is the result.
 */
export async function sendWithFeeBumping(p: SubmitterParameters, data: Hex, label: string) {
  const sender = p.sender ?? chainSenderFor(p.publicClient, p.walletClient);
  const account = p.walletClient.account;
  let fees = await p.publicClient.estimateFeesPerGas();
  const gas = await p.publicClient.estimateGas({ account, to: p.to, data });
  const tx = (f: typeof fees) => ({
    to: p.to,
    data,
    gas,
    maxFeePerGas: f.maxFeePerGas,
    maxPriorityFeePerGas: f.maxPriorityFeePerGas,
  });
  const first = await sender.send(tx(fees));
  const sent: Hex[] = [first.hash];
  const bumpPercent = BigInt(p.feeBumpPercent ?? 20);
  for (let attempt = 0; ; attempt++) {
    const deadline = Date.now() + (p.stuckAfterMs ?? 60_000);
    while (Date.now() < deadline) {
      for (const hash of sent) {
        const receipt = await p.publicClient.getTransactionReceipt({ hash }).catch(() => null);
        if (receipt) return { hash, receipt };
      }
      await new Promise((r) => setTimeout(r, p.receiptPollMs ?? 250));
    }
    if (attempt >= (p.maxBumps ?? 5))
      throw new Error(`transaction of ${label} not mined after ${attempt} fee bumps`);
    await sender.checkGap(first.nonce);
    const bump = (v: bigint) => (v * (100n + bumpPercent)) / 100n + 1n;
    fees = { maxFeePerGas: bump(fees.maxFeePerGas), maxPriorityFeePerGas: bump(fees.maxPriorityFeePerGas) };
    // Null: the node says the nonce is used, so one of the sent transactions was mined meanwhile.
    const replacement = await sender.replace(first.nonce, tx(fees));
    if (!replacement) continue;
    sent.push(replacement);
    p.metrics.feeBumps += 1;
    p.onFeeBump?.(label, fees.maxFeePerGas);
  }
}
