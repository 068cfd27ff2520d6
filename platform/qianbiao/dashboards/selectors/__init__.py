"""Reads behind the dashboards. They read the daily snapshots, never the raw
employment or annotation rows, except for the two live work panels (idle
annotators and projects nobody can work on), which are questions about now."""
