"""The drift machine's steps: a check over the captures window, and the retraining it may ask for."""
