"""The training machine's steps: upload -> validated dataset -> features -> candidates -> gates -> version."""
