"""``make bench``: what users pay for, measured side by side in one run on one machine.

Absolute times on a shared machine are noise; the ratios between things measured in the
same run are what to compare. Each measurement is a module; :mod:`infra.bench.report`
prints the table and writes ``bench-results/results.json`` and ``bench-results/ratios.png``.
"""
