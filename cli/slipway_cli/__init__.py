"""The `slipway` operator CLI: the same commands against any account (an AWS profile, or an
endpoint such as the local cloud's); it installs without the emulator, which comes with the
`local` extra for `slipway local up` and `slipway demo`."""
