import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { keccak256, toBytes } from "viem";
import SensorOracle from "./SensorOracle.js";

/**
 * One pushed feed: its configuration on SensorFeeds, a Chainlink AggregatorV3Interface for it,
 * and the FreezerAlarm example consumer pointed at that aggregator.
 */
export default buildModule("Feed", (m) => {
  const { feeds } = m.useModule(SensorOracle);
  const name = m.getParameter<string>("name");
  const feedId = m.getParameter<string>("feedId");
  const devices = m.getParameter<string[]>("devices");
  const config = {
    decimals: m.getParameter("decimals", 2),
    quorum: m.getParameter("quorum", 1),
    heartbeat: m.getParameter("heartbeat", 3600),
    window: m.getParameter("window", 300),
  };
  const configure = m.call(feeds, "configureFeed", [feedId, config, devices, name], { id: "ConfigureFeed" });
  const aggregator = m.contract("SensorFeedAggregator", [feeds, feedId], { after: [configure] });
  const alarm = m.contract("FreezerAlarm", [
    aggregator,
    m.getParameter("alarmMaxValue", -1500),
    m.getParameter("alarmMaxAge", 3600),
  ]);
  return { feeds, aggregator, alarm };
});

/** The feed id of a feed name: keccak256 of its UTF-8 bytes (docs/PROTOCOL.md). */
export const feedIdOf = (name: string) => keccak256(toBytes(name));
