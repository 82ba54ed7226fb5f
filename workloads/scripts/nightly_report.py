"""The nightly example's task: counts the words of the corpus and writes a dated report."""

import datetime
import os
import pathlib

words = pathlib.Path("corpus.txt").read_text(encoding="utf-8").split()
today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
report = pathlib.Path("report.txt")
report.write_text(f"{today} job {os.environ.get('AZ_BATCH_JOB_ID')}: {len(words)} words\n", encoding="utf-8")
print(report.read_text(encoding="utf-8"), end="")
