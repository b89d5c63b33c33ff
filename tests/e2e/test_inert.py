"""A project that installs the plugin but selects no model pays nothing for it and sees nothing
of it: no heavy import, no summary, no warning."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("numpy", "jiwer", "librosa", "soundfile", "yaml", "scipy", "matplotlib", "hypothesis", "torch")


def test_importing_the_plugin_loads_nothing_heavy():
    code = (
        "import sys, pytest\n"
        "before = set(sys.modules)\n"
        "import pytest_speechlab.plugin\n"
        "print(' '.join(sorted(m.split('.')[0] for m in set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    assert loaded <= {"pytest_speechlab", "tomllib"}, loaded
    assert not loaded & set(HEAVY)


def test_an_unrelated_project_sees_nothing(pytester: pytest.Pytester):
    pytester.makepyfile(test_x="def test_x():\n    assert True\n")
    collected = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:cacheprovider")
    assert collected.ret == 0 and "speechlab" not in collected.stdout.str()
    ran = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-W", "error")
    ran.assert_outcomes(passed=1)
    assert "speechlab" not in ran.stdout.str()


def test_collect_only_with_a_model_prints_no_summary(project):
    result = project.run("--collect-only", "-q")
    assert result.ret == 0
    assert "speechlab summary" not in result.stdout.str() and "INCOMPLETE" not in result.stdout.str()
