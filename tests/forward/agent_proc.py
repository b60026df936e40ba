"""Runs the real gateway agent (and the services gateway/agent.py adds) for the crash
tests: python agent_proc.py CONFIG. Prints "ready" once the UDP socket is bound and the services exist."""

import logging
import sys

from gateway import config
from gateway.agent import Agent


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = config.load(sys.argv[1])
    agent = Agent(cfg)
    assert agent.services, "gateway/agent.py no longer adds the forwarder"
    agent.install_signal_handlers()
    print("ready", flush=True)
    agent.run()


if __name__ == "__main__":
    main()
