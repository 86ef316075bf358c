"""Experiments run from the command line (not from the test suite): attack, localization, quality.

Each writes JSON results and a Markdown table under an output folder (``runs/`` by convention).
"""
