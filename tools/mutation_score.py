"""Print the mutation score from the counts ``mutmut export-cicd-stats`` writes.

The score is the share of mutants the tests detect: killed, or timed out (a mutant that makes
the tests hang fails CI all the same), over every mutant mutmut made and did not skip. Mutants
that no selected test reaches ("no tests") count as not detected.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def score_line(stats: dict[str, int]) -> str:
    judged = stats["total"] - stats["skipped"]
    found = stats["killed"] + stats["timeout"]
    share = found / judged if judged else 0.0
    return (
        f"mutation score {share:.1%}: {found} of {judged} mutants detected (killed {stats['killed']}, "
        f"timeout {stats['timeout']}); survived {stats['survived']}, no tests {stats['no_tests']}, "
        f"suspicious {stats['suspicious']}, segfault {stats['segfault']}"
    )


if __name__ == "__main__":
    print(score_line(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))
