"""batchcron: scheduled and push-triggered container jobs on AWS Batch."""

__version__ = "0.1.0"
