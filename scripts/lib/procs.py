"""Processes of one binary started by a check script (parity.py, schemathesis_run.py), each
logging to NAME.log in a directory of its own: start, the last lines of every log, and a stop
that sends SIGTERM and kills what is still running 10 s later."""

import os
import signal
import subprocess
import sys
import time


class Processes:
    def __init__(self, binary, logdir):
        self.binary, self.logdir, self.running = binary, logdir, {}

    def start(self, name, args, env):
        with open(os.path.join(self.logdir, f"{name}.log"), "w") as out:
            self.running[name] = subprocess.Popen([self.binary, *args], env=env, cwd=self.logdir,
                                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)

    def tails(self, lines=15):
        for name in self.running:
            with open(os.path.join(self.logdir, f"{name}.log"), errors="replace") as f:
                tail = f.read().splitlines()[-lines:]
            print(f"--- last lines of {name}.log:", file=sys.stderr)
            for line in tail:
                print(f"  {line}", file=sys.stderr)

    def stop(self):
        live = [p for p in self.running.values() if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in live:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
