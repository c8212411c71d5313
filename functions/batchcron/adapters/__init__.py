"""Adapters: one small module per outside system — boto3 clients (`aws`), AWS Batch (`batch`),
Slack (`slack`), Secrets Manager (`secrets`) and CloudWatch Logs (`joblogs`). Each creates its
clients lazily and knows nothing of jobs or runs beyond the values it is handed.

May import: `records`, `models`, `settings`, `observability` and the standard library; never
the catalogue, the store, the domain folders or the faces.
"""
