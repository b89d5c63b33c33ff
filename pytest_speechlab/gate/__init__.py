"""The gate: checks of what was measured against its baseline, the verdicts, the assertions suites
call, and the vetoes on a promotion."""
