"""Runs the SPA's JavaScript unit tests (node's built-in runner) as part of pytest."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parents[1]


def test_the_frontend_javascript_unit_tests_pass():
    node = shutil.which("node")
    if node is None:
        reason = "node is not installed (the SPA's unit tests need Node >= 20)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # Named explicitly: `node --test <dir>` on Node 20 only finds files named like
    # *.test.mjs or test-*.mjs, so it would pass with zero tests run.
    test_files = sorted(TESTS_DIR.glob("test_*.mjs"))
    assert test_files, f"no test_*.mjs in {TESTS_DIR}"

    result = subprocess.run(
        [node, "--test", "--test-reporter=tap", *map(str, test_files)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    assert passed and int(passed.group(1)) > 0, f"no JavaScript test ran:\n{output}"
