import { feedOf, onChainValue, parseFeeds } from "../../device-agent/feeds.js";
import type { ReadingSink } from "../../device-agent/reading-sink.js";

// The device's feeds, as its agent.json lists them.
const feeds = parseFeeds([{ name: "temperature", decimals: 3, unit: "°C", min: -55, max: 125 }]);

/**
 * Hand one measurement to the agent. A DeviceAgent is a ReadingSink: `take` signs the reading in
 * the token and stores it in the outbox; it resolves with the reading's sequence once it is on
 * disk. The value is scaled exactly ("21.375" -> 21375n with decimals 3) and checked against the
 * feed's range: a bad one throws ReadingInputError (reason "not_a_number", "too_precise",
 * "out_of_range"); a full outbox rejects with OutboxFullError.
 */
export async function recordTemperature(
  agent: ReadingSink,
  celsius: number | string,
  takenAt = new Date(),
): Promise<bigint> {
  const feed = feedOf(feeds, "temperature");
  const { sequence } = await agent.take({
    feed: feed.name,
    value: onChainValue(feed, celsius),
    takenAt: BigInt(Math.floor(takenAt.getTime() / 1000)),
  });
  return sequence;
}
