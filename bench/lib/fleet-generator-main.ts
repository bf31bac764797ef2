/** Node entry of the fleet generator child process (see fleet-generator.ts, "Child-process protocol"). */
import { runFleetGeneratorCli } from "./fleet-generator";

runFleetGeneratorCli().catch((e) => {
  console.error(e);
  process.exit(1);
});
