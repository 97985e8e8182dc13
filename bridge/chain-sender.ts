import {
  type Account,
  type Chain,
  type Hex,
  NonceTooHighError,
  NonceTooLowError,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { walkCauses } from "../protocol/errors.js";

/** A transaction as the sender broadcasts it: everything but the nonce, which the sender gives. */
export type OutgoingTransaction = {
  to: Hex;
  data: Hex;
  gas: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
};

export type ChainSenderParameters = {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  /** Called when the nonce is read again from the chain (after "nonce too low" or "too high"). */
  onResync?: (nonce: number, why: string) => void;
};

/**
 * The one transaction sender of a key: every transaction the bridge sends from its submitter key
 * (batch commits, feed pushes) takes its nonce here, one broadcast at a time, so no two of them
 * ever share or skip a nonce. The nonce is read from the chain's pending count on first use, and
 * again after the node answers "nonce too low" or "nonce too high" (another process sent from the
 * key, or a node restart dropped a transaction) or after a broadcast whose outcome is unknown.
 * A replacement (fee bump) reuses the nonce of the transaction it replaces.
 */
export class ChainSender {
  private next: number | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  /** Nonces read again from the chain since start (not counting the first read). */
  resyncs = 0;
  /** Called when the nonce is read again from the chain (the bridge counts it in its metrics). */
  onResync: ((nonce: number, why: string) => void) | undefined;

  constructor(private readonly p: ChainSenderParameters) {
    this.onResync = p.onResync;
  }

  get address(): Hex {
    return this.p.walletClient.account.address;
  }

  /** Broadcast `tx` under the key's next nonce; resolves once the node took it. */
  send(tx: OutgoingTransaction): Promise<{ nonce: number; hash: Hex }> {
    return this.exclusive(async () => {
      for (let attempt = 0; ; attempt++) {
        const nonce = this.next ?? (await this.pendingNonce());
        try {
          const hash = await this.broadcast(tx, nonce);
          this.next = nonce + 1;
          return { nonce, hash };
        } catch (err) {
          if (attempt === 0 && isNonceError(err)) {
            await this.resync(err instanceof Error ? err.name : "nonce error");
            continue;
          }
          // Nothing is known of whether the node took it: read the nonce again next time.
          this.next = null;
          throw err;
        }
      }
    });
  }

  /**
   * Broadcast a replacement of the transaction sent under `nonce` (same nonce, higher fees).
   * Resolves to null when the node refuses it for its nonce: the original (or an earlier
   * replacement) was mined meanwhile.
   */
  replace(nonce: number, tx: OutgoingTransaction): Promise<Hex | null> {
    return this.exclusive(async () => {
      try {
        return await this.broadcast(tx, nonce);
      } catch (err) {
        if (hasNonceTooLow(err)) return null;
        throw err;
      }
    });
  }

  /**
   * Called before a transaction stuck under `nonce` is bumped: when the node's pending count is
   * below `nonce`, a transaction before it was lost (dropped from a mempool, a node restarted), and
   * everything after it waits behind the gap. The nonce is read again, so the next send fills it.
   */
  checkGap(nonce: number): Promise<void> {
    return this.exclusive(async () => {
      const pending = await this.pendingNonce();
      if (pending < nonce && (this.next ?? 0) > pending) await this.resync("gap before a stuck transaction");
    });
  }

  /** Read the next nonce from the chain's pending count again (at start and after nonce errors). */
  private async resync(why: string): Promise<void> {
    this.next = await this.pendingNonce();
    this.resyncs += 1;
    this.onResync?.(this.next, why);
  }

  private pendingNonce(): Promise<number> {
    return this.p.publicClient.getTransactionCount({ address: this.address, blockTag: "pending" });
  }

  private broadcast(tx: OutgoingTransaction, nonce: number): Promise<Hex> {
    const w = this.p.walletClient;
    return w.sendTransaction({ account: w.account, chain: w.chain, ...tx, nonce });
  }

  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => {});
    return run;
  }
}

const isNonceError = (err: unknown): boolean =>
  hasNonceTooLow(err) ||
  walkCauses(err, (e) => e instanceof NonceTooHighError || (e as Error)?.name === "NonceTooHighError") !==
    null;

const hasNonceTooLow = (err: unknown): boolean =>
  walkCauses(err, (e) => e instanceof NonceTooLowError || (e as Error)?.name === "NonceTooLowError") !== null;

const senders = new WeakMap<PublicClient, Map<string, ChainSender>>();

/**
 * The sender of a key on a chain (one per public client and account in this process): the batcher
 * and the pusher of a bridge, given the same clients, share it and so share its nonces.
 */
export function chainSenderFor(
  publicClient: PublicClient,
  walletClient: WalletClient<Transport, Chain | undefined, Account>,
): ChainSender {
  let byKey = senders.get(publicClient);
  if (!byKey) {
    byKey = new Map();
    senders.set(publicClient, byKey);
  }
  const key = walletClient.account.address.toLowerCase();
  let sender = byKey.get(key);
  if (!sender) {
    sender = new ChainSender({ publicClient, walletClient });
    byKey.set(key, sender);
  }
  return sender;
}
