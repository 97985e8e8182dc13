import { type Hex, keccak256, toBytes } from "viem";

/** A feed's id: keccak256 of its name's UTF-8 bytes (docs/PROTOCOL.md), e.g. "cold-room-7/temperature". */
export function feedIdOf(name: string): Hex {
  return keccak256(toBytes(name));
}
