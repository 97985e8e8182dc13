import { type Hex, isHex } from "viem";
import { BridgeRequestError, BridgeUnreachableError } from "./errors.js";
import { feedIdOf } from "./feed-id.js";
import { parseServedReading, type ServedReading } from "./served-reading.js";

/** Where and how to ask a bridge's HTTP API. */
export type BridgeApi = {
  /** The bridge's base URL, e.g. https://bridge.example.org */
  bridgeUrl: string;
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Another fetch (a proxy, a test double); default: the global fetch. */
  fetch?: typeof fetch;
};

export type FetchReadingParameters = BridgeApi & {
  /** `<device name>:<sequence>`, as the bridge's acks and device pages name readings. */
  id: string;
};

export type FetchFeedLatestParameters = BridgeApi & {
  /** The feed: its id (0x + 64 hex digits) or its name (its id is keccak256 of the name). */
  feed: Hex | string;
};

/** A reading with its proof (`GET /readings/:id`). */
export function fetchReading({ id, ...api }: FetchReadingParameters): Promise<ServedReading> {
  return getServedReading(api, `/readings/${encodeURIComponent(id)}`);
}

/** A feed's latest committed reading with its proof (`GET /feeds/:feedId/latest`). */
export function fetchFeedLatest({ feed, ...api }: FetchFeedLatestParameters): Promise<ServedReading> {
  const feedId = isHex(feed) && feed.length === 66 ? feed.toLowerCase() : feedIdOf(feed);
  return getServedReading(api, `/feeds/${feedId}/latest`);
}

async function getServedReading(api: BridgeApi, path: string): Promise<ServedReading> {
  const url = `${api.bridgeUrl.replace(/\/+$/, "")}${path}`;
  let res: Response;
  try {
    res = await (api.fetch ?? fetch)(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(api.timeoutMs ?? 10_000),
    });
  } catch (err) {
    throw new BridgeUnreachableError(url, err);
  }
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const e = body as { error?: unknown; message?: unknown } | undefined;
    throw new BridgeRequestError(
      url,
      res.status,
      typeof e?.error === "string" ? e.error : undefined,
      typeof e?.message === "string" ? e.message : undefined,
    );
  }
  return parseServedReading(body);
}
