// Regenerate docs/vectors.json and contracts/test/utils/Vectors.sol from protocol/vectors.ts.
import { writeFileSync } from "node:fs";
import { computeVectors, vectorsSolidity } from "../protocol/vectors.js";

const v = computeVectors();
writeFileSync("docs/vectors.json", `${JSON.stringify(v, null, 2)}\n`);
writeFileSync("contracts/test/utils/Vectors.sol", vectorsSolidity(v));
console.log(
  `vectors: ${v.readings.length} readings, root ${v.root} -> docs/vectors.json, contracts/test/utils/Vectors.sol`,
);
