"""The workdir layer: run folders (locks, refusal of mismatched runs, the saved config), checkpoints and resume,
the compilation cache, and the `*_run` / `load_*` functions that wrap each procedure with them."""
