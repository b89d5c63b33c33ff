"""What a person reads: the terminal summary, the Markdown summary, the results file and the HTML
report, each rendering the same verdicts."""
