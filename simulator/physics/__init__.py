"""The use-case physics of the simulated city: a river in a storm, waste containers and their
collection round, daylight and street lamps, a van's GNSS track (docs/simulator.md "Use-case
physics"). Every value is a pure function of (scenario settings, seed, node, time)."""
