import { createRequire } from "node:module";
import hardhatToolboxViemPlugin from "@nomicfoundation/hardhat-toolbox-viem";
import { configVariable, defineConfig, overrideTask } from "hardhat/config";
import type { HttpNetworkUserConfig } from "hardhat/types/config";

const require = createRequire(import.meta.url);

// No native solc can be downloaded on our machines: compile with the npm `solc` package's
// soljson.js. Hardhat does not check `version` against the file, so package.json pins `solc`
// exactly to this version; keep the two equal.
const SOLC_VERSION = "0.8.28";

/**
 * The one build of the contracts: what `hardhat build`, the tests, `bench:gas` and Ignition's
 * deployments all compile. Hardhat 3 builds Ignition deployments with the `production` profile,
 * which would otherwise copy only the compiler's version and path from `default` and use optimizer
 * runs 200 in isolated mode: other bytecode than the benchmarked one (+150 to +215 gas per
 * verification), and a full recompile each time a command switches profile. Both profiles are
 * therefore this same object.
 */
const BUILD = {
  compilers: [
    {
      version: SOLC_VERSION,
      path: require.resolve("solc/soljson.js"),
      settings: { optimizer: { enabled: true, runs: 10_000 }, evmVersion: "cancun" },
    },
  ],
  isolated: false,
  toolVersionsInBuildInfo: false,
};

/**
 * A public testnet: its RPC URL and the deployer's key are configuration variables, read from the
 * Hardhat keystore (`npx hardhat keystore set NAME`) or, when not there, from the environment
 * variable of the same name. Nothing secret lives in this repo.
 */
const testnet = (
  prefix: string,
  chainId: number,
  chainType: "l1" | "op" | "generic",
): HttpNetworkUserConfig => ({
  type: "http",
  chainType,
  chainId,
  url: configVariable(`${prefix}_RPC_URL`),
  accounts: [configVariable(`${prefix}_PRIVATE_KEY`)],
});

export default defineConfig({
  plugins: [hardhatToolboxViemPlugin],
  // `ignition deploy` checks the fleet's parameters first: no zero submitter, no feed without devices.
  tasks: [
    overrideTask(["ignition", "deploy"])
      .setAction(() => import("./ignition/deploy-task.js"))
      .build(),
  ],
  solidity: { profiles: { default: BUILD, production: BUILD } },
  paths: { tests: { solidity: "./contracts/test" } },
  networks: {
    hardhatMainnet: { type: "edr-simulated", chainType: "l1" },
    // A chain without the P256VERIFY precompile (before Osaka): P-256 falls back to Solidity.
    hardhatCancun: { type: "edr-simulated", chainType: "l1", hardfork: "cancun" },
    // A local `hardhat node`; LOCALHOST_RPC_URL (not a secret) points elsewhere, e.g. another port.
    localhost: {
      type: "http",
      chainType: "l1",
      url: process.env.LOCALHOST_RPC_URL ?? "http://127.0.0.1:8545",
    },
    // Ethereum Sepolia: P-256 through EIP-7951 once Osaka is live there, else the Solidity fallback.
    sepolia: testnet("SEPOLIA", 11_155_111, "l1"),
    // L2 testnets with RIP-7212's P256VERIFY precompile (3,450 gas per P-256 verification).
    baseSepolia: testnet("BASE_SEPOLIA", 84_532, "op"),
    opSepolia: testnet("OP_SEPOLIA", 11_155_420, "op"),
    arbitrumSepolia: testnet("ARBITRUM_SEPOLIA", 421_614, "generic"),
  },
  // `npx hardhat verify --network <name> <address> <constructor args...>`: Etherscan's V2 API takes
  // one key for every chain above (Basescan, Optimistic Etherscan and Arbiscan included).
  verify: { etherscan: { apiKey: configVariable("ETHERSCAN_API_KEY") } },
});
