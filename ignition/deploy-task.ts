import { readFileSync } from "node:fs";
import { HardhatPluginError } from "hardhat/plugins";
import type { TaskOverrideActionFunction } from "hardhat/types/tasks";
import { checkDeploymentParameters, DeploymentParametersError } from "./check-parameters.js";

/**
 * `hardhat ignition deploy`, preceded by checkDeploymentParameters on the parameters it was given
 * (a JSON file or a JSON string), so a parameter file left with a zero submitter stops before any
 * transaction; the refusal is one line naming the parameter. Other modules and parameter sources pass through unchanged.
 */
const deployWithCheckedParameters: TaskOverrideActionFunction = async (args, _hre, runSuper) => {
  const { modulePath, parameters } = args as { modulePath: string; parameters?: string };
  const module = /(?:^|[/\\])(SensorOracle|Feed)\.[cm]?[jt]s$/.exec(modulePath);
  if (module && parameters !== undefined) {
    const text = /\.json5?$/.test(parameters) ? readFileSync(parameters, "utf8") : parameters;
    try {
      checkDeploymentParameters(JSON.parse(text), { feed: module[1] === "Feed" });
    } catch (err) {
      // Shown by Hardhat as one line, without a stack trace or a "report a bug" link.
      if (err instanceof DeploymentParametersError)
        throw new HardhatPluginError("sensor-oracle", err.shortMessage, err);
      throw err;
    }
  }
  return runSuper(args);
};

export default deployWithCheckedParameters;
