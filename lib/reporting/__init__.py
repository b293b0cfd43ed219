"""Reporting, apart from the models: claims tables, results and provenance, the chapter runner.

Imports nothing else of ``lib``: a chapter measures with the families and reports here.
"""
