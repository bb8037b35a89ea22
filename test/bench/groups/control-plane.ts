// Control plane: register -> served by a real Envoy, memory/CPU with many
// apps and ADS clients, bytes per change for SotW vs Delta. Filled in once the
// xds-server exposes a programmatic start (see the report).
import type { BenchGroup, GroupResult } from "../lib/types.js";

export const controlPlaneGroup: BenchGroup = {
  name: "control-plane",
  title: "Control plane (xds-server)",
  estimateS: () => 5,
  async run(): Promise<GroupResult> {
    return {
      group: "control-plane",
      title: controlPlaneGroup.title,
      figures: {},
      tables: [],
      goals: [
        {
          name: "register -> served p99 at 1,000 apps",
          target: "<= 100 ms",
          measured: "not measured",
          met: null,
        },
      ],
      notes: [],
      skipped: "not implemented in this run of the bench (see test/bench/README.md)",
    };
  },
};
