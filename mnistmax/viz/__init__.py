"""Pictures: pure figure functions (figures.py), GIF assembly (animate.py), and the
functions behind `mnistmax viz ...` that load a run and write its pictures (run_figures.py)."""
