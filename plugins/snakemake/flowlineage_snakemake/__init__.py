"""Snakemake adapter: ``snakemake --logger flowlineage`` records lineage (see docs/snakemake.md).

``collector`` runs in the Snakemake process (log records in, messages out), ``writer`` /
``recorder`` in a process of their own (messages in, runs and artifacts out). Importing this
package imports neither Snakemake nor the database layer.
"""
