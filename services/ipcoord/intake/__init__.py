"""Case intake: reports in, case lifecycle, source tracing, special actions, fast-track."""
