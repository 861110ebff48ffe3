"""The parts of benchmarks/report.py, the results page: its runs (`jobs`), what every section
uses (`page`) and one module per section."""
