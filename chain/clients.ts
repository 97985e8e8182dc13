import {
  type Account,
  type Chain,
  createPublicClient,
  createWalletClient,
  defineChain,
  type Hex,
  http,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";

/** A wallet client with its account: what sends transactions (deployer, operator, submitter). */
export type Wallet = WalletClient<Transport, Chain | undefined, Account>;

export type ChainClientsParameters = {
  chainId: number;
  rpcUrl: string;
  /** The key the wallet client signs with (the operator's, the submitter's...). */
  privateKey: Hex;
  /** How often the public client polls for receipts and blocks (viem's default: 4 s). */
  pollingInterval?: number;
  /** Retries of a failed RPC request (viem's default: 3). */
  retryCount?: number;
};

export type ChainClients = {
  chain: Chain;
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain, Account>;
};

/** A viem chain for any chain id and RPC URL: an EVM chain with 18-decimal Ether as its currency. */
export function chainOf(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/** The public client and the wallet client (signing with `privateKey`) of one chain over HTTP. */
export function createChainClients(p: ChainClientsParameters): ChainClients {
  const chain = chainOf(p.chainId, p.rpcUrl);
  const transport = http(p.rpcUrl, p.retryCount === undefined ? {} : { retryCount: p.retryCount });
  const publicClient: PublicClient = createPublicClient({
    chain,
    transport,
    ...(p.pollingInterval === undefined ? {} : { pollingInterval: p.pollingInterval }),
  });
  const walletClient = createWalletClient({ chain, transport, account: privateKeyToAccount(p.privateKey) });
  return { chain, publicClient, walletClient };
}
