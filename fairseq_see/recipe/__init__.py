"""The recipe steps no stock CLI does (``fairseq-see-recipe``; examples/*/run.sh call them), one job per module."""
