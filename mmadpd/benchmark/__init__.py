"""The parts of the speed benchmark, ``tools/analysis_tools/benchmark.py`` (its docstring
says what each part times and how), one module each:

- :mod:`.timing`      medians of alternating timed repeats; DataLoader-worker threads
- :mod:`.steps`       the ADPD and the bare DenseNet121 train steps, the synthetic batch
- :mod:`.profiling`   GPU kernel time per step, op tables, host-GPU synchronisations
- :mod:`.inference`   (c) network, predict() and post-processing speed
- :mod:`.data`        (d) the data pipeline per worker, (d2) main-process CPU per batch
- :mod:`.loop`        (e) the real training loop (mmengine Runner)
- :mod:`.validation`  (f) one validation as the schedule runs it
- :mod:`.runner`      benchmark Runner configs and the projected schedule time
- :mod:`.cost`        (g) FLOPs and device operators of ADPD vs the bare network
- :mod:`.results`     the results JSON
- :mod:`.summary`     a GPU run's steps -> the summary and the speed goals
  (``tools/analysis_tools/benchmark_summary.py``)
"""
