"""The promotion machine's steps: a version released into an environment through approval and a canary."""
