"""The job catalogue (`jobs.yaml`): its records (`model`), loading and error reporting
(`loading`, `errors`), the last good copy read commands fall back on (`lastgood`), its
compiled form (`compiled`, built by `build`), cron slots (`schedule`), schedules in words
(`words`), the `after:` cycle rule (`upstream`), the deadline rule (`deadlines`) and the price
table cost estimates use (`prices`, with `prices.json`). Pure but for reading the catalogue
file, the price table and the last good copy in the user's cache folder.

May import: `records`, `models` and the standard library (YAML, cron libraries); never the
store, adapters, the domain folders or the faces.
"""
