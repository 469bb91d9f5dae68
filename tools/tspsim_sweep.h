// `tspsim sweep`: re-compiles a tspc kernel for every point of a cartesian product of config
// values, simulates the points in parallel processes (tspsim itself) and writes a CSV and an SVG
// plot of cycles. A point that cannot work is a row with the reason. docs/workflow.md.
#pragma once

// argv[0] is "sweep"; returns the process exit code (2: bad sweep specification).
int sweep_main(int argc, char* argv[]);
