import { createRequire } from "node:module";
import hardhatToolboxViemPlugin from "@nomicfoundation/hardhat-toolbox-viem";
import { configVariable, defineConfig } from "hardhat/config";

const require = createRequire(import.meta.url);

// No native solc can be downloaded on our machines: compile with the npm `solc` package's
// soljson.js. Hardhat does not check `version` against the file, so package.json pins `solc`
// exactly to this version; keep the two equal.
const SOLC_VERSION = "0.8.28";

export default defineConfig({
  plugins: [hardhatToolboxViemPlugin],
  solidity: {
    compilers: [
      {
        version: SOLC_VERSION,
        path: require.resolve("solc/soljson.js"),
        settings: { optimizer: { enabled: true, runs: 10_000 }, evmVersion: "cancun" },
      },
    ],
  },
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
    sepolia: {
      type: "http",
      chainType: "l1",
      url: configVariable("SEPOLIA_RPC_URL"),
      accounts: [configVariable("SEPOLIA_PRIVATE_KEY")],
    },
  },
});
