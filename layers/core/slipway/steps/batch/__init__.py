"""The batch_inference machine's steps: resolve the parts, score each, conclude."""
