"""Notifications rules (issue 9, in progress): who hears about each event (routing.py) and
when a failed webhook delivery is tried again (retry.py). No I/O."""
