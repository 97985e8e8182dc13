import type { Hex } from "viem";
import { BridgeResponseError } from "./errors.js";

/**
 * A reading as a bridge serves it (`GET /readings/:id`, `GET /feeds/:feedId/latest`): the signed
 * fields (integers as decimal strings), the device's signature in its on-chain form, and once its
 * batch is committed, the batch and the reading's Merkle proof.
 */
export type ServedReading = {
  /** `<device name>:<sequence>` */
  id: string;
  status: "queued" | "committed";
  reading: { deviceId: Hex; feedId: Hex; value: string; timestamp: string; sequence: string };
  signature: Hex;
  curve: "p256" | "secp256k1";
  batch?: { root: Hex; txHash: Hex; blockNumber: string };
  proof?: Hex[];
};

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const HEX = /^0x(?:[0-9a-fA-F]{2})*$/;
const INT = /^-?[0-9]{1,78}$/;
const UINT = /^[0-9]{1,20}$/;

/** Check that a parsed JSON body is a served reading; throws BridgeResponseError naming the first bad field. */
export function parseServedReading(body: unknown): ServedReading {
  const o = body as Record<string, unknown> | null;
  const need = (ok: boolean, field: string, problem = "is missing or malformed") => {
    if (!ok) throw new BridgeResponseError(field, problem);
  };
  need(!!o && typeof o === "object", "(body)", "is not an object");
  const r = o?.reading as Record<string, unknown> | undefined;
  need(typeof o?.id === "string", "id");
  need(o?.status === "queued" || o?.status === "committed", "status");
  need(!!r && typeof r === "object", "reading");
  need(typeof r?.deviceId === "string" && HEX32.test(r.deviceId), "reading.deviceId");
  need(typeof r?.feedId === "string" && HEX32.test(r.feedId), "reading.feedId");
  need(typeof r?.value === "string" && INT.test(r.value), "reading.value");
  need(typeof r?.timestamp === "string" && UINT.test(r.timestamp), "reading.timestamp");
  need(typeof r?.sequence === "string" && UINT.test(r.sequence), "reading.sequence");
  need(typeof o?.signature === "string" && HEX.test(o.signature), "signature");
  need(o?.curve === "p256" || o?.curve === "secp256k1", "curve");
  if (o?.status === "committed") {
    const b = o.batch as Record<string, unknown> | undefined;
    need(typeof b?.root === "string" && HEX32.test(b.root), "batch.root");
    need(Array.isArray(o.proof) && o.proof.every((p) => typeof p === "string" && HEX32.test(p)), "proof");
  }
  return o as ServedReading;
}
