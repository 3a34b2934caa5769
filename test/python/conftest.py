"""Writes each test's outcome to $LOOKOUT_PYTEST_RESULTS (JSON lines), which the vitest wrapper reports one by one."""
import json
import os


def pytest_runtest_logreport(report):
    path = os.environ.get("LOOKOUT_PYTEST_RESULTS")
    if not path:
        return
    # One line per test: its failure wherever it happened (setup, call, teardown), else its call's outcome.
    if report.when == "call" or report.outcome != "passed":
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome, "longrepr": str(report.longrepr) if report.longrepr else ""}) + "\n")
